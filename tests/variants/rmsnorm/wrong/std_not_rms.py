# divides by the standard deviation (which subtracts the mean) instead of the root mean square
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        xf = x.float()
        return (xf / torch.sqrt(xf.var(-1, keepdim=True, unbiased=False) + self.eps) * self.weight).to(x.dtype)
