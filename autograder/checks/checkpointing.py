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
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from autograder.provided import as_in_notebook
from autograder.provided.attention import MultiHeadAttention
from autograder.provided.memory_meter import PeakMemory
from autograder.provided.weighted_loss import weighted_loss

from ._core import CheckGroups, expect, expect_close

GROUPS = CheckGroups()
check = GROUPS.check

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


def reference_peak(model, x, forward) -> int:
    """The meter's peak for one training step (grads cleared, forward, weighted_loss, backward)."""
    model.train()
    model.zero_grad(set_to_none=True)
    with PeakMemory(x.device) as meter:
        weighted_loss(forward()).backward()
    model.zero_grad(set_to_none=True)
    return meter.peak_bytes


# --- 2a: structure -------------------------------------------------------------------------------------------

@check("structure")
def layers_and_final_norm(cls) -> None:
    """`layers` holds num_layers layers with attn, ffn, norm1, norm2; `final_norm` is the final LayerNorm"""
    for num_layers in (1, 3):
        model = make(cls, num_layers)
        layers = _layers(model)
        expect(len(layers) == num_layers, f"{num_layers} layers asked for, `layers` holds {len(layers)}")
        for layer in layers:
            for name in ("attn", "ffn", "norm1", "norm2"):
                _part(layer, name)
            for name in ("norm1", "norm2"):
                expect(isinstance(_part(layer, name), nn.LayerNorm), f"`{name}` should be an nn.LayerNorm")
        _final_norm(model)


@check("structure")
def default_feed_forward_width(cls) -> None:
    """d_ff=None means 4 * d_model; an explicit d_ff is used"""
    d = D_MODEL

    def expected(d_ff):  # attention (4 linear layers) + 2 LayerNorms + feed-forward, per layer; then the final norm
        return 4 * (d * d + d) + 2 * 2 * d + (d * d_ff + d_ff) + (d_ff * d + d), 2 * d

    for d_ff, kwargs in ((4 * d, {}), (48, {"d_ff": 48})):
        per_layer, final = expected(d_ff)
        count = sum(p.numel() for p in make(cls, 2, **kwargs).parameters())
        expect(count == 2 * per_layer + final,
               f"with {'d_ff=48' if kwargs else 'the default d_ff'} a 2-layer encoder (d_model={d}) should have "
               f"{2 * per_layer + final} parameters, found {count}")


@check("structure")
def computes_the_pre_norm_function(cls) -> None:
    """in eval mode with a mask: each layer is pre-norm with residuals, and the final norm is applied"""
    model = make(cls, 3, dropout=0.1, seed=3).eval()
    x, mask = _input(4), _padding_mask()
    with torch.no_grad():
        actual = model(x, mask=mask)
        h = x
        for layer in _layers(model):
            a = _part(layer, "norm1")(h)
            h = h + _part(layer, "attn")(a, a, a, mask)
            h = h + _part(layer, "ffn")(_part(layer, "norm2")(h))
        expected = _final_norm(model)(h)
    expect_close(actual, expected, "the encoder's output (compared with norm1 -> attn -> residual, norm2 -> ffn -> "
                 "residual in each layer, then the final norm; with a padding mask)", rtol=1e-4, atol=1e-5)


# --- 2a: outputs and gradients --------------------------------------------------------------------------------

@check("gradients")
def same_outputs_and_gradients_with_a_mask(cls) -> None:
    """training, no dropout, with a padding mask: output and every gradient equal with and without checkpointing"""
    model = make(cls, 3, dropout=0.0, seed=5).train()
    x, mask = _input(6, requires_grad=True), _padding_mask()
    _compare_steps(_step(model, x, mask, False), _step(model, x, mask, True), "with a padding mask")
    x2 = _input(7, requires_grad=True)
    _compare_steps(_step(model, x2, None, False), _step(model, x2, None, True), "without a mask")


@check("gradients")
def same_gradients_with_dropout(cls) -> None:
    """dropout 0.2, same seed: output and every gradient equal with and without checkpointing"""
    model = make(cls, 3, dropout=0.2, seed=8).train()
    x = _input(9, requires_grad=True)
    _compare_steps(_step(model, x, None, False, seed=10), _step(model, x, None, True, seed=10),
                   "with dropout 0.2 and the same seed (are the dropout masks replayed in the recomputation?)")


@check("gradients")
def parameters_get_gradients_when_input_needs_none(cls) -> None:
    """an input that does not require grad (a frozen embedding): every parameter still gets its gradient"""
    model = make(cls, 2, dropout=0.0, seed=11).train()
    x = _input(12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reentrant mode warns here; its missing gradients are the verdict
        _compare_steps(_step(model, x, None, False), _step(model, x, None, True),
                       "an input that does not require grad")


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

def _measure_model(num_layers=4):
    torch.manual_seed(19)
    return ReferenceEncoder(num_layers, D_MODEL, HEADS, dropout=0.1), _input(20, batch=4, seq=32)


def _leave_old_gradients(model, x):
    model.train()
    weighted_loss(model(x, use_checkpointing=False)).backward()


def _number(value, what):
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should be a number (int or float), got {type(value).__name__}")
    return value


@check("measure")
def peak_matches_the_meter(fn) -> None:
    """the peak bytes returned match the meter's for the same step, with and without checkpointing"""
    model, x = _measure_model()
    for use_checkpointing in (False, True):
        expected = reference_peak(model, x, lambda: model(x, use_checkpointing=use_checkpointing))
        _leave_old_gradients(model, x)  # a measurement must not depend on what an earlier step left
        result = fn(model, x, use_checkpointing)
        expect(isinstance(result, tuple) and len(result) == 2, "train_step_cost should return (peak_bytes, seconds)")
        peak = _number(result[0], "peak_bytes")
        expect(abs(peak - expected) <= 0.05 * expected,
               f"use_checkpointing={use_checkpointing}: your function returned {peak:.4g} as the peak, the meter "
               f"measured {expected} bytes for one training step (gradients cleared first, forward AND backward, "
               f"in bytes)")


@check("measure")
def seconds_are_wall_clock_seconds(fn) -> None:
    """the time returned is in seconds: positive and no longer than the call itself took"""
    model, x = _measure_model(2)
    start = time.perf_counter()
    result = fn(model, x, True)
    elapsed = time.perf_counter() - start
    expect(isinstance(result, tuple) and len(result) == 2, "train_step_cost should return (peak_bytes, seconds)")
    seconds = _number(result[1], "seconds")
    expect(0 < seconds <= elapsed,
           f"the time returned was {seconds:.4g}, but the whole call took {elapsed:.4g} s: return the time of one "
           f"step in seconds")


@check("measure")
def gradients_left_cleared(fn) -> None:
    """after the measurement every parameter's gradient is None"""
    model, x = _measure_model(2)
    fn(model, x, False)
    left = [name for name, p in model.named_parameters() if p.grad is not None]
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


@check("segments")
def segments_compute_the_same_function_and_gradients(fn) -> None:
    """for several k (with a mask): output and every gradient equal the plain model's"""
    model = _segments_model()
    mask = _padding_mask()
    x = _input(23, requires_grad=True)
    plain = _step(model, x, mask, False)
    for k in (1, 2, 3, 5):
        segmented = _step(model, x, mask, True, forward=lambda: fn(model, x, k, mask=mask))
        _compare_steps(plain, segmented, f"checkpoint_every with k={k}")


@check("segments")
def segments_of_k_layers_are_recomputed(fn) -> None:
    """the backward pass rebuilds consecutive segments of k layers, every segment including the last"""
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


@check("peak_by_k")
def peaks_for_every_k_match_the_meter(fn) -> None:
    """{k: peak bytes} for k = 1..num_layers, each matching the meter's, gradients left cleared"""
    model = _segments_model(4, dropout=0.1)
    x = _input(25, batch=4, seq=32)
    _leave_old_gradients(model, x)
    peaks = fn(model, x)
    expect(isinstance(peaks, dict) and sorted(peaks) == [1, 2, 3, 4],
           f"for a 4-layer model peak_by_k should return a dict with the keys 1, 2, 3, 4; got "
           f"{sorted(peaks) if isinstance(peaks, dict) else type(peaks).__name__}")
    left = [name for name, p in model.named_parameters() if p.grad is not None]
    expect(not left, "after peak_by_k the parameters still hold gradients: clear them (set_to_none=True)")
    for k in (1, 2, 3, 4):
        expected = reference_peak(model, x, lambda: reference_segments(model, x, k))
        peak = _number(peaks[k], f"the peak for k={k}")
        expect(abs(peak - expected) <= 0.05 * expected,
               f"k={k}: you reported {peak:.4g} bytes, the meter measured {expected} for a training step with "
               f"segments of {k} layers (gradients cleared first, forward and backward)")
