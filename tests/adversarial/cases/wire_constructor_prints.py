# Class 2 (issue 20), the wire: the student's own constructor prints probe lines. Whenever RMSNorm(...) is built in
# a graded cell it prints, once per cell, a probe line for that cell's group with a correct RMSNorm's data for this
# run's seed; the real probes print theirs too. Two lines for a group: the group gets no points.
# base: wrong
# expect: score <= baseline
# reason: was sent 2 times
import sys

import torch
import torch.nn.functional as F
from torch import nn

_core = sys.modules["autograder.probing"]
_wire = sys.modules["autograder.wire"]
_protocol = sys.modules["autograder.protocol"]
_rms_groups = sys.modules["lab.checks.rmsnorm"].GROUPS
_ip = get_ipython()  # noqa: F821
_printed = set()


class _Correct(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), eps=self.eps).to(x.dtype)


_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def __init__(self, d_model, eps=1e-6):
        super().__init__(d_model, eps)
        cell = _ip.history_manager.input_hist_raw[-1] if _ip.history_manager.input_hist_raw else ""
        for group in _rms_groups.groups:
            if f'{"GROUPS"}.run("{group}"' in cell and (len(_ip.history_manager.input_hist_raw), group) not in _printed:
                _printed.add((len(_ip.history_manager.input_hist_raw), group))
                seed = _core._CHANNEL.get("seed", 0)
                data = {n: _rms_groups.checks[n].run_probe((_Correct,), seed) for n in _rms_groups.groups[group]}
                print(_protocol.probe_line("rmsnorm", group, _wire.encode(data)))
