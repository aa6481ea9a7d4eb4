# Forged probe data in exercise 2: a reentrant-checkpointing encoder (no parameter gradients when the input needs
# none) whose structure and gradients cells are rewritten into probe lines of a CORRECT encoder's data for this
# run's seed with every tensor replaced by zeros of its shape. The judge computes every part's function, the
# pre-norm function and the gradients itself from the seed's weights: zeros match none of them. The honest
# reentrant encoder, 2b and 2c left as released, gets 7 of 15 (structure 1, gradients 2 of 3, recomputation 3,
# memory 1 of 2: visible tests carry no points); with its structure and gradients cells forged it keeps only the
# cells it did not forge (recomputation 3, memory 1).
# notebook: 02_gradient_checkpointing encoder_impl
# base: checkpointing/wrong/encoder_reentrant
# expect: score <= 4
# reason: values are wrong
import re
import sys

import torch

_core = sys.modules["autograder.probing"]
_wire = sys.modules["autograder.wire"]
_protocol = sys.modules["autograder.protocol"]
_module = sys.modules["lab.checks.checkpointing"]
_checks = _module.GROUPS
_checkpoint = sys.modules["torch.utils.checkpoint"].checkpoint


class _Correct(_module.PlainEncoder):  # the forger's own correct encoder (the kernel holds none to borrow)
    def forward(self, x, mask=None, use_checkpointing=True):
        on = use_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            x = _checkpoint(layer, x, mask, use_reentrant=False) if on else layer(x, mask)
        return self.final_norm(x)


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
    data = {name: _zeros(_checks.checks[name].run_probe((_Correct,), seed)) for name in _checks.names(group)}
    print(_protocol.probe_line("checkpointing", group, _wire.encode(data)))


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(structure|gradients)\"", "".join(lines))
    return [f"_forge({found[1]!r})\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
