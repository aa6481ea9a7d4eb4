# Class 2 (issue 20), the wire: every hidden-test cell runs its probes as written (the wrong RMSNorm's data), then
# sends a SECOND probe line for the same group, with the data a correct RMSNorm gives for this run's seed. The judge
# used to keep the last line of a group; now a group sent twice gets no points.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: was sent 2 times
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

_rms_groups = sys.modules["lab.checks.rmsnorm"].GROUPS


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


def _second_line(lines):
    """Right after the hidden-test line (before the visible asserts, which the wrong RMSNorm fails)."""
    out = []
    for line in lines:
        out.append(line)
        found = re.search(r"GROUPS\.run\(\"(\w+)\"", line)
        if found:
            out += ["\n" if not line.endswith("\n") else "", f"_rms_groups.run({found[1]!r}, _Correct)\n"]
    return out


get_ipython().input_transformers_cleanup.append(_second_line)  # noqa: F821
