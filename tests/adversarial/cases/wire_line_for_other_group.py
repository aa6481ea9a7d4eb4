# Class 2 (issue 20), the wire: the "values" cell's own probes are suppressed (the group runner does nothing for that
# group), and the data of a correct RMSNorm for the "values" group is sent from another graded cell (properties),
# hoping the judge files it under the group it names. A cell's data is read only for the groups its trusted source
# runs: the values cell has none (0) and the properties cell, having sent data it does not run, loses its own too.
# base: wrong
# expect: score <= baseline
# reason: for hidden checks it does not run
import sys

import torch
import torch.nn.functional as F
from torch import nn

_core = sys.modules["autograder.probing"]
_rms_groups = sys.modules["lab.checks.rmsnorm"].GROUPS
_run = _core.CheckGroups.run


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


def _moved(self, group, *args):
    if group == "values":
        return None
    _run(self, group, *args)
    if group == "properties":
        _run(self, "values", _Correct)


_core.CheckGroups.run = _moved
