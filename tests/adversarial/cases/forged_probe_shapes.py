# Forged probe data: shapes without values. The probes run on this run's seed with a correct RMSNorm, then every
# tensor is replaced by zeros of the same shape and dtype before it is printed for the judge.
# base: wrong
# expect: score <= baseline
# expect: score < 2
# reason: values are wrong
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


def _zeros(data):
    if isinstance(data, torch.Tensor):
        return torch.zeros_like(data)
    if isinstance(data, dict):
        return {k: _zeros(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_zeros(v) for v in data]
    return data


def _forge(group):
    seed = _core._CHANNEL["seed"]
    data = {name: _zeros(_checks.checks[name].run_probe((_Correct,), seed)) for name in _checks.groups[group]}
    print(_protocol.probe_line("rmsnorm", group, _wire.encode(data)))


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    return [f"_forge({found[1]!r})\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
