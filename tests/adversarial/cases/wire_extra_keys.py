# Class 2 (issue 20), the wire: what the probes send is changed on its way out (the kernel's _wire.encode is
# replaced): the values group gets an extra "check" claiming a pass, each parameters check an extra "passed": True
# and "count" entry, each dtypes check an "error" entry beside its data, the properties group a result count. The
# judge reads only the keys it asked for; anything else fails the check (the group, for an extra check).
# base: wrong
# expect: score <= baseline
# reason: entries the grader did not ask for
import sys
import types

_core = sys.modules["autograder.probing"]
_wire = sys.modules["autograder.wire"]
_groups = sys.modules["lab.checks.rmsnorm"].GROUPS.groups


def _mutate(data):
    names = set(data)
    if names == set(_groups["values"]):
        data = {**data, "bonus_check": {"passed": True}}
    elif names == set(_groups["parameters"]):
        data = {k: {**v, "passed": True, "count": 1} for k, v in data.items()}
    elif names == set(_groups["dtypes"]):
        data = {k: {**v, "error": ""} for k, v in data.items()}
    elif names == set(_groups["properties"]):
        data = {**data, "passed": 2, "total": 2}
    return data


_core._wire = types.SimpleNamespace(encode=lambda data: _wire.encode(_mutate(data)), roundtrip=_wire.roundtrip)
