"""Hidden checks for exercise 2, gradient checkpointing.

What the notebook states, and so all these checks rely on:
- 2a `TransformerEncoderCheckpointed(num_layers, d_model, num_heads, d_ff=None, dropout=0.1)` (the lab's API):
  `layers`, an nn.ModuleList with one entry per layer, each entry a module holding the submodules `attn` (the
  provided MultiHeadAttention), `ffn`, `norm1`, `norm2` (a layer class of the student's, or an nn.ModuleDict run by
  a helper: how a layer is run is not part of the API); pre-norm:
  `h = norm1(x); x = x + dropout(attn(h, h, h, mask)); x = x + dropout(ffn(norm2(x)))`; the final LayerNorm
  `final_norm`; `d_ff=None` means 4 * d_model. `forward(x, mask=None, use_checkpointing=True)` checkpoints each
  layer separately when training with gradients enabled and use_checkpointing is true, else runs plainly.
- 2b `train_step_cost(model, x, use_checkpointing) -> (peak_bytes, seconds)`: one step (grads cleared, forward,
  `weighted_loss(out)`, backward), peak from `PeakMemory(x.device)`, time of a second step outside the meter,
  grads left cleared.
- 2c `checkpoint_every(model, x, k, mask=None)` for an encoder whose `layers[i](x, mask)` runs layer i (the
  provided PlainEncoder): segments of k consecutive layers, each one checkpointed region, then `final_norm`;
  `peak_by_k(model, x) -> {k: peak_bytes}` for k = 1..num_layers, as in 2b but with `checkpoint_every`, grads left
  cleared.
2b and 2c are checked on an encoder built here from the provided PlainEncoder, never on the student's 2a.

Recomputation is counted with forward PRE-hooks on each layer's `attn`, a module every design calls as a module
(a layer itself may be a ModuleDict that is never called, or be run through `layer.forward`, which fires no hook).
A checkpointed region's recomputation stops early, so a forward hook may not fire then, while a pre-hook always
does. Memory is measured with the meter the notebook provides.

Judged outside the kernel (probe + judge, see _core.py): the structure, outputs and gradients (the probe sets the
student's parameters to values drawn from the seed and the parameter's name; the judge builds the reference from
them), the peaks 2b and 2c return (the judge runs the meter on the same model and step: it counts the storages a
step allocates, the same in any process), gradients left cleared and 2c's function. Guarded (only the kernel can
observe them): recomputation counts and order, the peak of the student's own encoder, the step time.
"""
from __future__ import annotations

import math
import re
import time
import warnings
import zlib
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from autograder.provided import as_in_notebook
from autograder.provided.attention import MultiHeadAttention
from autograder.provided.memory_meter import PeakMemory
from autograder.provided.weighted_loss import weighted_loss

from ._core import CheckGroups, expect, expect_close, plain

GROUPS = CheckGroups()
check = GROUPS.check
probe = GROUPS.probe

D_MODEL, HEADS, BATCH, SEQ = 32, 4, 2, 12


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _input(seed: int, batch=BATCH, seq=SEQ, d_model=D_MODEL, requires_grad=False) -> torch.Tensor:
    return torch.randn(batch, seq, d_model, generator=_generator(seed)).requires_grad_(requires_grad)


def _padding_mask(batch=BATCH, seq=SEQ) -> torch.Tensor:
    """(batch, 1, 1, seq), True = may attend; the second sequence's last 4 keys are padding."""
    mask = torch.ones(batch, 1, 1, seq, dtype=torch.bool)
    mask[1, ..., seq - 4:] = False
    return mask


def make(cls, num_layers: int, dropout: float = 0.0, seed: int = 0, **kwargs) -> nn.Module:
    """The student's encoder with random LayerNorm scales and shifts (ones and zeros hide ordering mistakes)."""
    torch.manual_seed(seed)
    model = cls(num_layers, D_MODEL, HEADS, dropout=dropout, **kwargs)
    expect(isinstance(model, nn.Module), "TransformerEncoderCheckpointed must be an nn.Module")
    gen = _generator(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm) and module.weight is not None:
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    return model


def _layers(model: nn.Module) -> list[nn.Module]:
    layers = getattr(model, "layers", None)
    expect(isinstance(layers, nn.ModuleList), "the encoder should keep its layers in `self.layers`, an nn.ModuleList")
    return list(layers)


def _part(layer: nn.Module, name: str) -> nn.Module:
    """A layer's submodule by name, whether the layer is a class of its own or an nn.ModuleDict."""
    part = getattr(layer, name, None)
    expect(isinstance(part, nn.Module), f"each layer should have the submodule `{name}` (see the API in the notebook)")
    return part


def _final_norm(model: nn.Module) -> nn.Module:
    norm = getattr(model, "final_norm", None)
    expect(isinstance(norm, nn.LayerNorm),
           "the encoder should end with a final nn.LayerNorm in `self.final_norm` (a pre-norm stack needs one)")
    return norm


def _weights(out: torch.Tensor, seed: int) -> torch.Tensor:
    """A fixed random weighting of the outputs (a plain .sum() after a LayerNorm has almost zero gradient)."""
    return torch.randn(out.shape, generator=_generator(seed))


def _grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in model.named_parameters()}


def _step(model, x, mask, use_checkpointing, seed=None, weight_seed=99, forward=None):
    """One training step with a weighted loss; returns the output and every gradient (parameters and input)."""
    model.zero_grad(set_to_none=True)
    if x.grad is not None:
        x.grad = None
    if seed is not None:
        torch.manual_seed(seed)
    out = forward() if forward is not None else model(x, mask=mask, use_checkpointing=use_checkpointing)
    (out * _weights(out, weight_seed)).sum().backward()
    grads = _grads(model)
    input_grad = None if x.grad is None else x.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return out.detach(), grads, input_grad


def _compare_steps(plain, ckpt, what: str) -> None:
    (out0, grads0, xg0), (out1, grads1, xg1) = plain, ckpt
    expect_close(out1, out0, f"{what}: the output with checkpointing", rtol=1e-4, atol=1e-5)
    if xg0 is not None:
        expect(xg1 is not None, f"{what}: with checkpointing no gradient reached the input")
        expect_close(xg1, xg0, f"{what}: the input's gradient with checkpointing", rtol=1e-4, atol=1e-5)
    for name, g0 in grads0.items():
        g1 = grads1[name]
        expect(g0 is not None, f"{what}: without checkpointing, parameter {name} got no gradient")
        expect(g1 is not None, f"{what}: with checkpointing, parameter {name} got no gradient")
        expect_close(g1, g0, f"{what}: the gradient of {name} with checkpointing", rtol=1e-4, atol=1e-5)


@contextmanager
def _recorded_layer_calls(layers):
    """Record the index of every layer whose attention starts (pre-hooks fire during recomputation too).

    The hook is on each layer's `attn`, not on the layer: a layer kept as an nn.ModuleDict is never called, and
    `checkpoint(layer.forward, ...)` bypasses the layer's hooks; every design calls its attention as a module."""
    calls: list[int] = []
    handles = [_part(layer, "attn").register_forward_pre_hook(lambda module, args, i=i: calls.append(i))
               for i, layer in enumerate(layers)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def _forward_and_backward_calls(layers, forward):
    """(layer indices whose forward ran in the forward pass, ... in the backward pass)."""
    with _recorded_layer_calls(layers) as calls:
        out = forward()
        in_forward = list(calls)
        if out.requires_grad:
            (out * _weights(out, 5)).sum().backward()
    return in_forward, calls[len(in_forward):]


# --- a reference encoder, for the checks of 2b and 2c (they must not depend on the student's 2a) -------------

# The PlainEncoder the notebook provides (the same file), run as the notebook runs it: after the attention cell.
PlainEncoder = as_in_notebook("plain_encoder.py", {"MultiHeadAttention": MultiHeadAttention})["PlainEncoder"]


class ReferenceEncoder(PlainEncoder):
    """The provided PlainEncoder with 2a's checkpointing (hidden: it is 2a's answer)."""

    def forward(self, x, mask=None, use_checkpointing=True):
        checkpointing = use_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            x = checkpoint(layer, x, mask, use_reentrant=False) if checkpointing else layer(x, mask)
        return self.final_norm(x)


def reference_segments(model, x, k, mask=None):
    layers = list(model.layers)

    def run(segment):
        def fn(h, mask):
            for layer in segment:
                h = layer(h, mask)
            return h
        return fn

    for start in range(0, len(layers), k):
        x = checkpoint(run(layers[start:start + k]), x, mask, use_reentrant=False)
    return model.final_norm(x)


_PEAKS: dict[tuple, int] = {}  # the judge's reference peaks, per grading process (see reference_peak)


def reference_peak(model, x, forward, step: str | None = None) -> int:
    """The meter's peak for one training step (grads cleared, forward, weighted_loss, backward).

    With `step` (a name for what `forward` runs), the peak is remembered for this process: the meter counts the
    storages a step allocates, so the same step of a model of the same parameter shapes and dropout on an input of
    the same shape peaks at the same number of bytes whatever the values (see 2b). The judge, which runs once per
    notebook in the grading process, then measures each of the few shapes once rather than for every student."""
    key = None
    if step is not None:
        key = (step, tuple(x.shape), x.dtype, tuple((n, tuple(p.shape)) for n, p in model.named_parameters()),
               tuple(m.p for m in model.modules() if isinstance(m, nn.Dropout)))
        if key in _PEAKS:
            return _PEAKS[key]
    model.train()
    model.zero_grad(set_to_none=True)
    with PeakMemory(x.device) as meter:
        weighted_loss(forward()).backward()
    model.zero_grad(set_to_none=True)
    if key is not None:
        _PEAKS[key] = meter.peak_bytes
    return meter.peak_bytes


# --- judged checks of 2a: the student's encoder with weights drawn from the seed, a reference rebuilt from them ---

NORMS = ("norm1", "norm2", "final_norm")  # the API's LayerNorms: random scales and shifts, never ones and zeros
ATTENTION = {f"attn.{w}.{kind}" for w in ("W_q", "W_k", "W_v", "W_o") for kind in ("weight", "bias")}
LAYER_NORMS = {f"{norm}.{kind}" for norm in ("norm1", "norm2") for kind in ("weight", "bias")}


def _mix(seed: int, stream: int) -> int:
    """A generator seed for one input stream of one grading seed (seed 0, the unit tests': the stream itself)."""
    return (seed * 1_000_003 + stream) % 2**63


def _seeded_input(seed: int, stream: int, batch=BATCH, seq=SEQ, requires_grad=False) -> torch.Tensor:
    return _input(_mix(seed, stream), batch, seq, requires_grad=requires_grad)


def prescribed(name: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The value the probe gives the parameter `name` for this seed (the judge computes the same): drawn from the
    name and the seed only, so that it does not depend on how the student's code creates its parameters."""
    gen = torch.Generator().manual_seed(_mix(seed, zlib.crc32(name.encode())))
    module, _, kind = name.rpartition(".")
    if module.rpartition(".")[2] in NORMS:
        return 0.5 + torch.rand(shape, generator=gen) if kind == "weight" else 0.1 * torch.randn(shape, generator=gen)
    bound = 1 / math.sqrt(shape[-1]) if len(shape) > 1 else 0.1
    return (2 * torch.rand(shape, generator=gen) - 1) * bound


def make_seeded(cls, num_layers: int, seed: int, dropout: float = 0.0, **kwargs) -> nn.Module:
    """The student's encoder with every parameter set to the value the seed prescribes for its name."""
    model = make(cls, num_layers, dropout=dropout, **kwargs)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(prescribed(name, tuple(param.shape), seed).to(param.dtype))
    return model


def described(model: nn.Module) -> list:
    """What a probe reports of the student's parameters: [name, shape] pairs (the judge knows their values)."""
    return [[name, list(param.shape)] for name, param in model.named_parameters()]


def _reference_name(name: str, shape: tuple[int, ...], d: int = D_MODEL) -> str:
    """The reference encoder's name for a parameter of the student's encoder (the feed-forward's by shape:
    its names are the student's choice, its shapes are not)."""
    if name in ("final_norm.weight", "final_norm.bias"):
        return name
    match = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
    expect(match is not None, f"your encoder has the parameter `{name}`, outside `layers` and `final_norm`")
    layer, rest = match.groups()
    if rest in ATTENTION or rest in LAYER_NORMS:
        return name
    expect(rest.startswith("ffn."), f"layer {layer} has the parameter `{rest}`, not part of attn, ffn, norm1, norm2")
    if len(shape) == 2 and d in shape and shape[0] != shape[1]:
        return f"layers.{layer}.ffn.{0 if shape[1] == d else 3}.weight"
    expect(len(shape) == 1, f"layer {layer}'s feed-forward has a parameter of shape {shape}")
    return f"layers.{layer}.ffn.{3 if shape == (d,) else 0}.bias"


def reference_encoder(params: object, seed: int, dropout: float = 0.0) -> tuple[nn.Module, dict[str, str]]:
    """The reference encoder with the weights the seed prescribes for the parameters the probe reported, and
    {student's name: reference name}. Fails when the reported parameters are not the API's."""
    expect(isinstance(params, list) and all(isinstance(p, list) and len(p) == 2 for p in params),
           "the parameters' names and shapes did not come back")
    shapes = {str(name): tuple(int(n) for n in shape) for name, shape in params}
    mapping = {name: _reference_name(name, shape) for name, shape in shapes.items()}
    layers = {int(name.split(".")[1]) for name in mapping.values() if name.startswith("layers.")}
    expect(layers == set(range(len(layers))) and layers, "the reported layers are not numbered 0, 1, ...")
    d_ff = next((shapes[s][0] for s, r in mapping.items() if r == "layers.0.ffn.0.weight"), 4 * D_MODEL)
    reference = ReferenceEncoder(len(layers), D_MODEL, HEADS, d_ff=d_ff, dropout=dropout)
    wanted = dict(reference.named_parameters())
    missing = sorted(set(wanted) - set(mapping.values()))
    expect(not missing, f"your encoder has no parameter for the reference's `{missing[0] if missing else ''}` "
           "(see the API: attn, ffn, norm1, norm2 in each layer, final_norm)")
    expect(len(mapping) == len(wanted), "your encoder has more parameters than the API's layers and final norm")
    with torch.no_grad():
        for name, role in mapping.items():
            expect(tuple(wanted[role].shape) == shapes[name],
                   f"`{name}` has shape {shapes[name]}, expected {tuple(wanted[role].shape)}")
            wanted[role].copy_(prescribed(name, shapes[name], seed))
    return reference, mapping


def _reported_step(data: object, names: list[str], what: str):
    """A reported training step as (output, {name: gradient or None}, input gradient)."""
    expect(isinstance(data, dict) and isinstance(data.get("grads"), dict), f"{what}: no gradients came back")
    expect(sorted(data["grads"]) == sorted(names), f"{what}: the gradients are not those of the reported parameters")
    return data.get("y"), data["grads"], data.get("x_grad")


SKETCH_ROWS = 32  # what a probe reports of a gradient with more entries: 32 random projections of it


def sketch(name: str, grad: torch.Tensor | None, seed: int) -> torch.Tensor | None:
    """A gradient as a probe reports it: small ones whole; larger ones as SKETCH_ROWS projections on random +-1
    directions (scaled by 1/sqrt(n)) drawn from the seed and the name, so that a step's data stays well under 1 MB.
    The judge projects the gradients it expects the same way: projections are linear, so equal gradients give
    equal projections, and a wrong gradient (a different vector) gives different ones whatever the seed."""
    if grad is None or grad.numel() <= 8 * SKETCH_ROWS:
        return grad
    gen = torch.Generator().manual_seed(_mix(seed, zlib.crc32(f"sketch {name}".encode())))
    signs = torch.randint(0, 2, (SKETCH_ROWS, grad.numel()), generator=gen).double() * 2 - 1
    return (signs @ grad.detach().double().flatten()) / math.sqrt(grad.numel())


def _sketched(step, seed: int, names: dict[str, str] | None = None):
    """A step's (output, gradients, input gradient) with its gradients sketched under the student's names
    (`names`: {student's name: the step's name}, for the reference's steps)."""
    out, grads, input_grad = step
    names = names or {name: name for name in grads}
    return out, {name: sketch(name, grads[own], seed) for name, own in names.items()}, input_grad


def _step_data(step, seed: int) -> dict:
    out, grads, input_grad = _sketched(step, seed)
    return {"y": plain(out), "grads": grads, "x_grad": input_grad}


def _expected_step(reference, mapping, x, mask, weight_stream, seed):
    return _sketched(_step(reference, x, mask, False, weight_seed=weight_stream), seed, mapping)


# --- 2a: structure -------------------------------------------------------------------------------------------

@probe("structure")
def layers_and_final_norm(cls, seed: int) -> dict:
    """`layers` holds num_layers layers with attn, ffn, norm1, norm2; `final_norm` is the final LayerNorm"""
    models = []
    for num_layers in (1, 3):
        model = make(cls, num_layers)
        layers = getattr(model, "layers", None)
        models.append({
            "layers": type(layers).__name__,
            "parts": [{name: type(getattr(layer, name, None)).__name__ for name in ("attn", "ffn", "norm1", "norm2")}
                      for layer in (layers if isinstance(layers, nn.ModuleList) else [])],
            "final_norm": type(getattr(model, "final_norm", None)).__name__,
        })
    return {"models": models}


@layers_and_final_norm.judge
def _(data: dict, seed: int) -> None:
    for num_layers, model in zip((1, 3), data["models"], strict=True):
        expect(model["layers"] == "ModuleList",
               "the encoder should keep its layers in `self.layers`, an nn.ModuleList")
        expect(len(model["parts"]) == num_layers,
               f"{num_layers} layers asked for, `layers` holds {len(model['parts'])}")
        for parts in model["parts"]:
            for name in ("attn", "ffn", "norm1", "norm2"):
                expect(parts[name] != "NoneType",
                       f"each layer should have the submodule `{name}` (see the API in the notebook)")
            for name in ("norm1", "norm2"):
                expect(parts[name] == "LayerNorm", f"`{name}` should be an nn.LayerNorm")
        expect(model["final_norm"] == "LayerNorm", "the encoder should end with a final nn.LayerNorm in "
               "`self.final_norm` (a pre-norm stack needs one)")


FEED_FORWARD_WIDTHS = ((4 * D_MODEL, {}), (48, {"d_ff": 48}))


@probe("structure")
def default_feed_forward_width(cls, seed: int) -> dict:
    """d_ff=None means 4 * d_model; an explicit d_ff is used"""
    return {"counts": [sum(p.numel() for p in make(cls, 2, **kwargs).parameters())
                       for _, kwargs in FEED_FORWARD_WIDTHS]}


@default_feed_forward_width.judge
def _(data: dict, seed: int) -> None:
    d = D_MODEL
    for (d_ff, kwargs), count in zip(FEED_FORWARD_WIDTHS, data["counts"], strict=True):
        # attention (4 linear layers) + 2 LayerNorms + feed-forward, per layer; then the final norm
        per_layer, final = 4 * (d * d + d) + 2 * 2 * d + (d * d_ff + d_ff) + (d_ff * d + d), 2 * d
        expect(count == 2 * per_layer + final,
               f"with {'d_ff=48' if kwargs else 'the default d_ff'} a 2-layer encoder (d_model={d}) should have "
               f"{2 * per_layer + final} parameters, found {count}")


@probe("structure")
def computes_the_pre_norm_function(cls, seed: int) -> dict:
    """in eval mode with a mask: each layer is pre-norm with residuals, and the final norm is applied"""
    model = make_seeded(cls, 3, seed, dropout=0.1).eval()
    with torch.no_grad():
        y = model(_seeded_input(seed, 4), mask=_padding_mask())
    return {"params": described(model), "y": plain(y)}


@computes_the_pre_norm_function.judge
def _(data: dict, seed: int) -> None:
    reference, _ = reference_encoder(data["params"], seed, dropout=0.1)
    with torch.no_grad():
        expected = reference.eval()(_seeded_input(seed, 4), mask=_padding_mask())
    expect_close(data["y"], expected, "the encoder's output (compared with norm1 -> attn -> residual, norm2 -> ffn "
                 "-> residual in each layer, then the final norm; with a padding mask)", rtol=1e-4, atol=1e-5)


# --- 2a: outputs and gradients --------------------------------------------------------------------------------
# The probe reports both runs of the student's encoder; the judge compares them with each other (today's
# verdicts, today's messages) and the run without checkpointing, where there is no dropout, with the reference it
# builds from the seed's weights: so made-up, replayed or other inputs' data fail.

def _both_runs(model, x, mask, seed: int, stream: int, rng_stream: int | None = None) -> dict:
    rng = None if rng_stream is None else _mix(seed, rng_stream)
    return {mode: _step_data(_step(model, x, mask, mode == "checkpointed", seed=rng, weight_seed=_mix(seed, stream)),
                             seed)
            for mode in ("plain", "checkpointed")}


def _judge_runs(runs: dict, names: list[str], what: str, expected=None) -> None:
    plain_run = _reported_step(runs["plain"], names, f"{what}, without checkpointing")
    ckpt_run = _reported_step(runs["checkpointed"], names, f"{what}, with checkpointing")
    _compare_steps(plain_run, ckpt_run, what)
    if expected is not None:
        _compare_with_reference(expected, plain_run, f"{what}, without checkpointing")


def _compare_with_reference(expected, reported, what: str) -> None:
    """The reported plain run against the reference's (names: the student's; every gradient present)."""
    (out0, grads0, xg0), (out1, grads1, xg1) = expected, reported
    how = "differs from a pre-norm encoder with the same weights"
    expect_close(out1, out0, f"{what}: the output {how}", rtol=1e-4, atol=1e-5)
    if xg0 is not None:
        expect_close(xg1, xg0, f"{what}: the input's gradient {how}", rtol=1e-4, atol=1e-5)
    for name, g0 in grads0.items():
        expect_close(grads1[name], g0, f"{what}: the gradient of {name} {how}", rtol=1e-4, atol=1e-5)


@probe("gradients")
def same_outputs_and_gradients_with_a_mask(cls, seed: int) -> dict:
    """training, no dropout, with a padding mask: output and every gradient equal with and without checkpointing"""
    model = make_seeded(cls, 3, seed, dropout=0.0).train()
    return {"params": described(model),
            "mask": _both_runs(model, _seeded_input(seed, 6, requires_grad=True), _padding_mask(), seed, 99),
            "no mask": _both_runs(model, _seeded_input(seed, 7, requires_grad=True), None, seed, 98)}


@same_outputs_and_gradients_with_a_mask.judge
def _(data: dict, seed: int) -> None:
    reference, mapping = reference_encoder(data["params"], seed)
    reference.train()
    for case, stream, weights, mask in (("mask", 6, 99, _padding_mask()), ("no mask", 7, 98, None)):
        expected = _expected_step(reference, mapping, _seeded_input(seed, stream, requires_grad=True), mask,
                                  _mix(seed, weights), seed)
        _judge_runs(data[case], list(mapping), "with a padding mask" if mask is not None else "without a mask",
                    expected)


@probe("gradients")
def same_gradients_with_dropout(cls, seed: int) -> dict:
    """dropout 0.2, same seed: output and every gradient equal with and without checkpointing"""
    model = make_seeded(cls, 3, seed, dropout=0.2).train()
    x = _seeded_input(seed, 9, requires_grad=True)
    runs = _both_runs(model, x, None, seed, 99, rng_stream=10)
    with torch.no_grad():
        y_eval = model.eval()(x)
    return {"params": described(model), "runs": runs, "y_eval": plain(y_eval)}


@same_gradients_with_dropout.judge
def _(data: dict, seed: int) -> None:
    # Which units dropout drops depends on the order the student's code draws its masks in, which the API leaves
    # open: the two dropout runs are compared with each other; the same model in eval mode (no dropout) with the
    # reference, which ties the data to this seed's weights and input.
    reference, mapping = reference_encoder(data["params"], seed, dropout=0.2)
    with torch.no_grad():
        expected = reference.eval()(_seeded_input(seed, 9))
    expect_close(data["y_eval"], expected, "with dropout 0.2, the same encoder in eval mode", rtol=1e-4, atol=1e-5)
    _judge_runs(data["runs"], list(mapping),
                "with dropout 0.2 and the same seed (are the dropout masks replayed in the recomputation?)")


@probe("gradients")
def parameters_get_gradients_when_input_needs_none(cls, seed: int) -> dict:
    """an input that does not require grad (a frozen embedding): every parameter still gets its gradient"""
    model = make_seeded(cls, 2, seed, dropout=0.0).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reentrant mode warns here; its missing gradients are the verdict
        return {"params": described(model), "runs": _both_runs(model, _seeded_input(seed, 12), None, seed, 99)}


@parameters_get_gradients_when_input_needs_none.judge
def _(data: dict, seed: int) -> None:
    reference, mapping = reference_encoder(data["params"], seed)
    expected = _expected_step(reference.train(), mapping, _seeded_input(seed, 12), None, _mix(seed, 99), seed)
    _judge_runs(data["runs"], list(mapping), "an input that does not require grad", expected)


# --- 2a: recomputation ----------------------------------------------------------------------------------------

@check("recomputation")
def checkpointed_step_runs_each_layer_twice(cls) -> None:
    """a checkpointed training step runs each layer's forward twice, each layer rebuilt on its own"""
    model = make(cls, 3).train()
    layers = _layers(model)
    x = _input(13, requires_grad=True)
    forward, backward = _forward_and_backward_calls(layers, lambda: model(x, use_checkpointing=True))
    expect(forward == [0, 1, 2], f"the forward pass ran the layers {forward}, expected [0, 1, 2]")
    expect(sorted(backward) == [0, 1, 2],
           f"in the backward pass the layers whose forward ran again were {backward}: with checkpointing every "
           f"layer's forward should run again, once")
    expect(backward == [2, 1, 0],
           f"in the backward pass the layers were recomputed in the order {backward}: checkpointing each layer "
           f"separately rebuilds them one at a time from the last, [2, 1, 0]")


@check("recomputation")
def plain_step_runs_each_layer_once(cls) -> None:
    """with use_checkpointing=False each layer's forward runs once in a training step"""
    model = make(cls, 3).train()
    x = _input(14, requires_grad=True)
    forward, backward = _forward_and_backward_calls(_layers(model), lambda: model(x, use_checkpointing=False))
    expect(forward == [0, 1, 2] and backward == [],
           f"with use_checkpointing=False the layers ran {forward} in the forward pass and {backward} again in the "
           f"backward pass: nothing should be recomputed")


@check("recomputation")
def eval_mode_runs_each_layer_once(cls) -> None:
    """in eval mode (even with gradients enabled) each layer's forward runs once"""
    model = make(cls, 3).eval()
    x = _input(15, requires_grad=True)
    forward, backward = _forward_and_backward_calls(_layers(model), lambda: model(x))
    expect(forward == [0, 1, 2] and backward == [],
           f"in eval mode the layers ran {forward} in the forward pass and {backward} again in the backward pass: "
           f"checkpoint only when training")


@check("recomputation")
def no_grad_forward_is_plain(cls) -> None:
    """under torch.no_grad each layer runs once, with no checkpoint warning and no graph"""
    model = make(cls, 3).train()
    x = _input(16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad(), _recorded_layer_calls(_layers(model)) as calls:
            out = model(x)
    expect(calls == [0, 1, 2], f"under no_grad the layers ran {calls}, expected [0, 1, 2]")
    expect(not out.requires_grad, "under no_grad the output should not require grad")
    messages = [str(w.message) for w in caught if "checkpoint" in str(w.filename) or "requires_grad" in str(w.message)]
    expect(not messages, f"under no_grad the forward pass warned: {messages[0] if messages else ''} "
           f"(there is nothing to checkpoint without gradients)")


# --- 2a: memory -----------------------------------------------------------------------------------------------

@check("memory")
def checkpointing_lowers_the_peak(cls) -> None:
    """the peak memory of a training step (forward and backward) with checkpointing is well below the plain one"""
    model = make(cls, 6, dropout=0.1, seed=17)
    x = _input(18, batch=4, seq=32)
    plain = reference_peak(model, x, lambda: model(x, use_checkpointing=False))
    ckpt = reference_peak(model, x, lambda: model(x, use_checkpointing=True))
    expect(ckpt <= 0.6 * plain,
           f"a 6-layer encoder's training step peaked at {ckpt / 2**20:.2f} MiB with checkpointing and "
           f"{plain / 2**20:.2f} MiB without ({ckpt / plain:.0%}): checkpointing each layer separately should keep "
           f"well under 60% of it (forward AND backward count: a region rebuilt in backward is alive there)")


# --- 2b -------------------------------------------------------------------------------------------------------
# The meter counts the storages a step allocates: the same number for the same model, input shape and step in any
# process (the values do not matter). The judge runs the meter on the same model and step itself; the input's
# shape is drawn from the seed, so that the numbers of another grading run do not match.

# Shapes on which every variant (autograder/variants/checkpointing) gets the verdicts it gets on (4, 32): a peak
# within 5% of the meter's is a pass, and a wrong peak's distance from the right one depends on the shape (a tail
# segment left out costs 3.7% of the peak at (4, 32) and 12% at (2, 16)).
MEASURE_SHAPES = [(3, 32), (3, 40), (4, 24), (4, 32), (4, 40), (5, 24)]


def _measure_shape(seed: int) -> tuple[int, int]:
    """(batch, seq) for this seed; seed 0, the unit tests': (4, 32)."""
    if seed == 0:
        return 4, 32
    return MEASURE_SHAPES[torch.randint(len(MEASURE_SHAPES), (1,), generator=_generator(_mix(seed, 26))).item()]


def _measure_model(num_layers=4, seed=0):
    torch.manual_seed(19)
    batch, seq = _measure_shape(seed)
    return ReferenceEncoder(num_layers, D_MODEL, HEADS, dropout=0.1), _seeded_input(seed, 20, batch=batch, seq=seq)


def _leave_old_gradients(model, x):
    model.train()
    weighted_loss(model(x, use_checkpointing=False)).backward()


def _number(value, what):
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should be a number (int or float), got "
           f"{value.strip('<>') if isinstance(value, str) else type(value).__name__}")
    return value


def _reported_number(value: object) -> object:
    """A number the student's function returned, as a probe reports it (the name of its type otherwise)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return f"<{type(value).__name__}>"


def _reported_pair(result: object) -> object:
    if not (isinstance(result, tuple) and len(result) == 2):
        return "<not a pair>"
    return [_reported_number(result[0]), _reported_number(result[1])]


@probe("measure")
def peak_matches_the_meter(fn, seed: int) -> dict:
    """the peak bytes returned match the meter's for the same step, with and without checkpointing"""
    model, x = _measure_model(seed=seed)
    results = []
    for use_checkpointing in (False, True):
        _leave_old_gradients(model, x)  # a measurement must not depend on what an earlier step left
        results.append(_reported_pair(fn(model, x, use_checkpointing)))
    return {"results": results}


@peak_matches_the_meter.judge
def _(data: dict, seed: int) -> None:
    model, x = _measure_model(seed=seed)
    for use_checkpointing, result in zip((False, True), data["results"], strict=True):
        expected = reference_peak(model, x, lambda: model(x, use_checkpointing=use_checkpointing),
                                  step=f"encoder, use_checkpointing={use_checkpointing}")
        expect(isinstance(result, list), "train_step_cost should return (peak_bytes, seconds)")
        peak = _number(result[0], "peak_bytes")
        expect(abs(peak - expected) <= 0.05 * expected,
               f"use_checkpointing={use_checkpointing}: your function returned {peak:.4g} as the peak, the meter "
               f"measured {expected} bytes for one training step (gradients cleared first, forward AND backward, "
               f"in bytes)")


@check("measure")
def seconds_are_wall_clock_seconds(fn) -> None:
    """the time returned is in seconds: positive and no longer than the call itself took"""
    # Guarded: the call's own duration is only observable in the kernel.
    model, x = _measure_model(2)
    start = time.perf_counter()
    result = fn(model, x, True)
    elapsed = time.perf_counter() - start
    expect(isinstance(result, tuple) and len(result) == 2, "train_step_cost should return (peak_bytes, seconds)")
    seconds = _number(result[1], "seconds")
    expect(0 < seconds <= elapsed,
           f"the time returned was {seconds:.4g}, but the whole call took {elapsed:.4g} s: return the time of one "
           f"step in seconds")


@probe("measure")
def gradients_left_cleared(fn, seed: int) -> dict:
    """after the measurement every parameter's gradient is None"""
    model, x = _measure_model(2, seed=seed)
    fn(model, x, False)
    return {"with_grad": [name for name, p in model.named_parameters() if p.grad is not None]}


@gradients_left_cleared.judge
def _(data: dict, seed: int) -> None:
    left = data["with_grad"]
    expect(isinstance(left, list), "the parameters' gradients were not reported")
    expect(not left, f"after train_step_cost, {len(left)} parameters still hold a gradient (e.g. {left[:1]}): "
           f"clear them with model.zero_grad(set_to_none=True)")


# --- 2c -------------------------------------------------------------------------------------------------------

def _segments_model(num_layers=5, dropout=0.0):
    torch.manual_seed(21)
    model = ReferenceEncoder(num_layers, D_MODEL, HEADS, dropout=dropout).train()
    gen = _generator(22)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(0.5 + torch.rand(module.weight.shape, generator=gen))
    return model


SEGMENT_SIZES = (1, 2, 3, 5)


@probe("segments")
def segments_compute_the_same_function_and_gradients(fn, seed: int) -> dict:
    """for several k (with a mask): output and every gradient equal the plain model's"""
    model, mask = _segments_model(), _padding_mask()
    x = _seeded_input(seed, 23, requires_grad=True)
    return {"runs": [_step_data(_step(model, x, mask, True, weight_seed=_mix(seed, 99),
                                      forward=lambda: fn(model, x, k, mask=mask)), seed) for k in SEGMENT_SIZES]}


@segments_compute_the_same_function_and_gradients.judge
def _(data: dict, seed: int) -> None:
    model, mask = _segments_model(), _padding_mask()
    x = _seeded_input(seed, 23, requires_grad=True)
    plain_run = _sketched(_step(model, x, mask, False, weight_seed=_mix(seed, 99)), seed)
    names = [name for name, _ in model.named_parameters()]
    for k, run in zip(SEGMENT_SIZES, data["runs"], strict=True):
        _compare_steps(plain_run, _reported_step(run, names, f"checkpoint_every with k={k}"),
                       f"checkpoint_every with k={k}")


@check("segments")
def segments_of_k_layers_are_recomputed(fn) -> None:
    """the backward pass rebuilds consecutive segments of k layers, every segment including the last"""
    # Guarded: which layers run again in the backward pass is only observable in the kernel (hooks).
    model = _segments_model()
    for k in (1, 2, 3):
        x = _input(24, requires_grad=True)
        forward, backward = _forward_and_backward_calls(list(model.layers), lambda: fn(model, x, k))
        segments = [list(range(s, min(s + k, 5))) for s in range(0, 5, k)]
        expected = [i for segment in reversed(segments) for i in segment]
        expect(forward == [0, 1, 2, 3, 4], f"k={k}: the forward pass ran the layers {forward}")
        expect(backward == expected,
               f"k={k}: in the backward pass the layers were recomputed in the order {backward}; segments "
               f"{segments}, each checkpointed (the last one too), would give {expected}")
        model.zero_grad(set_to_none=True)


def _peaks_model_and_input(seed: int):
    batch, seq = _measure_shape(seed)
    return _segments_model(4, dropout=0.1), _seeded_input(seed, 25, batch=batch, seq=seq)


@probe("peak_by_k")
def peaks_for_every_k_match_the_meter(fn, seed: int) -> dict:
    """{k: peak bytes} for k = 1..num_layers, each matching the meter's, gradients left cleared"""
    model, x = _peaks_model_and_input(seed)
    _leave_old_gradients(model, x)
    peaks = fn(model, x)
    reported = ({str(k): _reported_number(v) for k, v in peaks.items()} if isinstance(peaks, dict)
                else f"<{type(peaks).__name__}>")
    return {"peaks": reported, "keys": sorted(repr(k) for k in peaks) if isinstance(peaks, dict) else [],
            "with_grad": [name for name, p in model.named_parameters() if p.grad is not None]}


@peaks_for_every_k_match_the_meter.judge
def _(data: dict, seed: int) -> None:
    peaks = data["peaks"]
    expect(isinstance(peaks, dict) and data["keys"] == ["1", "2", "3", "4"],
           f"for a 4-layer model peak_by_k should return a dict with the keys 1, 2, 3, 4; got "
           f"{', '.join(data['keys']) if isinstance(peaks, dict) else str(peaks).strip('<>')}")
    expect(not data["with_grad"], "after peak_by_k the parameters still hold gradients: clear them (set_to_none=True)")
    model, x = _peaks_model_and_input(seed)
    for k in (1, 2, 3, 4):
        expected = reference_peak(model, x, lambda: reference_segments(model, x, k), step=f"segments of {k}")
        peak = _number(peaks[str(k)], f"the peak for k={k}")
        expect(abs(peak - expected) <= 0.05 * expected,
               f"k={k}: you reported {peak:.4g} bytes, the meter measured {expected} for a training step with "
               f"segments of {k} layers (gradients cleared first, forward and backward)")
