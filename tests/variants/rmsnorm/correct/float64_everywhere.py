# Computes everything in float64 and casts the result back; the scale is called `scale`.
import torch
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x64 = x.to(torch.float64)
        rms = torch.sqrt(torch.mean(x64 * x64, dim=-1, keepdim=True) + self.eps)
        return (x64 / rms * self.scale.to(torch.float64)).to(x.dtype)
