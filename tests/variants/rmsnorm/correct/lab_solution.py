# The lab's own RMSNorm, in the lab's plain style: y = x / sqrt(mean(x^2) + eps) * scale. Reconstructed from the
# lab's stated API (RMSNorm(d_model, eps=1e-6)) and its formula: not the seed's verbatim file, which this
# repository does not have.
# One change from the lab, where its code breaks the notebook's stated API (return the input's dtype; compute the
# statistic in float32 for float16 inputs): the lab computes in the input's dtype and multiplies by a float32
# scale, so a float16 input overflows for |x| > 256 (256^2 = 65536 > 65504, float16's largest value) and a
# float16 or bfloat16 input comes back as float32. The two marked lines below are the change; the lab's code
# unchanged is rmsnorm/wrong/lab_solution_unchanged.py and fails only the half-precision check for that reason.
import torch
import torch.nn as nn


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        h = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # changed: half precision in float32
        # Root mean square over the last dimension
        rms = torch.sqrt(torch.mean(h ** 2, dim=-1, keepdim=True) + self.eps)
        return (h / rms * self.scale).to(x.dtype)  # changed: cast back to the input's dtype
