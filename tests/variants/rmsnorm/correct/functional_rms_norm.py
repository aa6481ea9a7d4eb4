# F.rms_norm with eps passed explicitly, on a float32 copy for half-precision inputs.
import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        compute = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        y = F.rms_norm(compute, (x.shape[-1],), self.gamma.to(compute.dtype), eps=self.eps)
        return y.to(x.dtype)
