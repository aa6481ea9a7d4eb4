# the lab's own RMSNorm unchanged: statistic in the input's dtype (float16 overflows), float32 out for half inputs
# Reconstructed from the lab's stated API (RMSNorm(d_model, eps=1e-6)) and its formula
# y = x / sqrt(mean(x^2) + eps) * scale: not the seed's verbatim file. It breaks the notebook's stated API in one
# place only, half precision: a float16 input with |x| > 256 overflows when squared, and a float16 or bfloat16
# input times the float32 scale comes back as float32. Every other check passes (tests/test_checks_rmsnorm.py
# asserts that); rmsnorm/correct/lab_solution.py is the same code with that one place changed.
import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        # Root mean square over the last dimension
        rms = torch.sqrt(torch.mean(x ** 2, dim=-1, keepdim=True) + self.eps)
        return x / rms * self.scale
