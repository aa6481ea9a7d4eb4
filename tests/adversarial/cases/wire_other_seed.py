# Class 2 (issue 20), the wire: data for another seed. Every hidden-test cell is rewritten to run the probes on a
# correct RMSNorm with seed 0 (the unit tests' and `nbgrader validate`'s seed, whose inputs a student can compute
# at home) instead of this run's: the judge rebuilds this run's inputs, which are in another order.
# base: wrong
# expect: score <= baseline
# expect: score < 3
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

_wire = sys.modules["autograder.wire"]
_protocol = sys.modules["autograder.protocol"]
_rms_groups = sys.modules["lab.checks.rmsnorm"].GROUPS


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


def _seed_zero(group):
    print(_protocol.probe_line("rmsnorm", group, _wire.encode(_rms_groups.probe_group(group, _Correct, seed=0))))


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    return [f"_seed_zero({found[1]!r})\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
