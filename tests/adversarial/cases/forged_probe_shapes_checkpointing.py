# Forged probe data in exercise 2: a reentrant-checkpointing encoder (no parameter gradients when the input needs
# none) whose structure and gradients cells are rewritten into probe lines of a CORRECT encoder's data for this
# run's seed with every tensor replaced by zeros of its shape. The judge computes the pre-norm function and the
# gradients itself from the seed's weights: zeros match none of them (the structure's type names and parameter
# counts, reports, still pass). The honest reentrant encoder, 2b and 2c left as released, gets 6 of 15.
# notebook: 02_gradient_checkpointing encoder_impl
# base: checkpointing/wrong/encoder_reentrant
# expect: score < 6
# reason: values are wrong
import re
import sys

import torch

_core = sys.modules["autograder.checks._core"]
_wire = sys.modules["autograder.checks._wire"]
_protocol = sys.modules["autograder.protocol"]
_module = sys.modules["autograder.checks.checkpointing"]
_checks = _module.GROUPS


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
    data = {name: _zeros(_checks.checks[name].run_probe((_module.ReferenceEncoder,), seed))
            for name in _checks.judged_names(group)}
    print(_protocol.probe_line("checkpointing", group, _wire.encode(data)))


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(structure|gradients)\"", "".join(lines))
    return [f"_forge({found[1]!r})\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
