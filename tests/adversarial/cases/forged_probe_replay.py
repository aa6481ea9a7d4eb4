# Forged probe data: the hidden-test cells are rewritten into prints of probe data that a CORRECT RMSNorm produced
# in another grading run (another seed), replayed here. The judge rebuilds this run's inputs: the replayed numbers
# match none of them (only the two structure reports, the scale's initial values and the output dtypes, pass).
# base: wrong
# expect: score <= baseline
# expect: score < 2
# reason: do not follow the inputs
import re
import sys

import torch
import torch.nn.functional as F
from torch import nn

_core = sys.modules["autograder.probing"]
_wire = sys.modules["autograder.wire"]
_protocol = sys.modules["autograder.protocol"]
_checks = sys.modules["lab.checks.rmsnorm"].GROUPS


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


_RECORDED_SEED = 12345  # the run the data was recorded in
_LINES = {group: _protocol.probe_line("rmsnorm", group, _wire.encode(
    {name: _checks.checks[name].run_probe((_Correct,), _RECORDED_SEED) for name in names}))
    for group, names in _checks.groups.items()}


def _replay(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    return [f"print({_LINES[found[1]]!r})\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_replay)  # noqa: F821
