# Class 2/3 (issue 20): nothing implemented (RMSNorm raises NotImplementedError, like the released notebook), but
# the probes of the checks whose judges did not compare with the reference are replaced by made-up data, computed
# from the probes' own input builders (no RMSNorm anywhere): the identity's outputs (y = x) for "each position
# separately" and "scale invariant", the inputs cast to each dtype for "float32 and float64 kept", the inputs as
# built for "input left unchanged". Those judges checked only the data's form or its self-consistency, which made-up
# data meets: 2.73 of 8 for an empty answer (values 1/5, dtypes 2/3, properties 1/2). Fixed: each of them also
# requires the outputs to be the reference's (lab/judges/rmsnorm.py), so made-up data passes none.
# baseline: untouched
# expect: score <= baseline
# expect: score == 0
import sys

import torch
from torch import nn

_probes = sys.modules["lab.checks.rmsnorm"]
_rms_groups = _probes.GROUPS


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        raise NotImplementedError("replace this line with your code")


def _made_up(name):
    def probe(cls, seed):
        if name == "scale_invariant":
            x = _probes._randn((5, 32), seed, 24)
            return {"y": x, "scaled": [x, x, x], "negated": -x}
        if name == "normalises_each_position_separately":
            x, x2 = _probes._position_inputs(seed)
            return {"y": x, "y2": x2}
        if name == "float32_and_float64_kept":
            return {"outputs": [_probes._randn((2, 3, 16), seed, 18).to(dt) for dt in _probes.KEPT_DTYPES]}
        return {"inputs_after": [_probes._unchanged_input(seed, dt) for dt in _probes.UNCHANGED_DTYPES]}
    probe.__doc__ = _rms_groups.checks[name].probe.__doc__
    return probe


for _name in ("scale_invariant", "normalises_each_position_separately", "float32_and_float64_kept",
              "input_left_unchanged"):
    _rms_groups.checks[_name].probe = _made_up(_name)
