# Class 2 (issue 20), the wire: forged probe lines of every odd form, one per group (each hidden-test cell is
# rewritten into the print of its line): values: strings and numbers where tensors belong; parameters: 7.9 million
# characters that are base64 but no torch file; dtypes: a line over the size limit (8.1 million characters);
# properties: the data of a right answer's form whose `scaled` tensors are expanded from one stored number to
# 10 million x 5 x 32 elements (a 5 kB line that cost the judge seconds and gigabytes of the grader's memory per
# comparison; now refused when read, autograder/wire.py check_tensors). Every group gets 0, and grading
# goes on for everyone.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: expanded
# reason: too large
import re
import sys

import torch

_core = sys.modules["autograder.probing"]
_wire = sys.modules["autograder.wire"]
_protocol = sys.modules["autograder.protocol"]
_probes = sys.modules["lab.checks.rmsnorm"]
_groups = _probes.GROUPS.groups


def _forged(group):
    seed = _core._CHANNEL["seed"]
    if group == "values":
        data = {name: {"outputs": ["<Tensor>", 1.0, [[0.5]]], "y": "ok", "y2": 7} for name in _groups[group]}
        return _protocol.probe_line("rmsnorm", group, _wire.encode(data))
    if group == "parameters":
        return _protocol.probe_line("rmsnorm", group, "A" * 7_900_000)
    if group == "dtypes":
        return _protocol.probe_line("rmsnorm", group, "A" * 8_100_000)
    x = _probes._randn((5, 32), seed, 24)
    huge = torch.zeros(1).expand(10_000_000, 5, 32)
    data = {"scale_invariant": {"y": x, "scaled": [huge, huge, huge], "negated": -x},
            "no_recentering": {"y": torch.zeros(1).expand(8, 64)}}
    return _protocol.probe_line("rmsnorm", group, _wire.encode(data))


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    return [f"print(_forged({found[1]!r}))\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
