# Uses the vector norm: sqrt(mean(x^2)) = ||x|| / sqrt(d); eps kept inside the square root.
import math

import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.g = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        xf = x.float()
        ms = torch.linalg.vector_norm(xf, dim=-1, keepdim=True).pow(2) / x.shape[-1]
        return (xf / torch.sqrt(ms + self.eps) * self.g).to(x.dtype)
