# The boundary of the rule: a wrong RMSNorm whose solution cell rewrites the hidden-test cells to run the probes
# (the group runner, channel open) on a correct RMSNorm (F.rms_norm) instead. The judge only sees numbers; these are the
# right ones, so the checks pass: forging them takes a correct implementation, which is the exercise.
# base: wrong
# expect: score == 8
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

_checks = sys.modules["lab.checks.rmsnorm"].GROUPS


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    return [f"_checks.run({found[1]!r}, _Correct)\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
