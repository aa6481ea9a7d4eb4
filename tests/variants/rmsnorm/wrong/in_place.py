# normalises the input in place (x.mul_), destroying the caller's tensor
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        if x.requires_grad:
            x = x.clone()
        rms = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return x.mul_(rms.to(x.dtype)).mul_(self.weight.to(x.dtype))
