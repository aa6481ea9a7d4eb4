"""Judges of exercise 2's probes (lab/checks/checkpointing.py), with the reference implementations they
compare against: the encoder checkpointed layer by layer (2a's answer), the segments of k layers (2c's answer) and
the peaks the meter measures for them. Each judge rebuilds the probe's inputs and weights from the seed, computes
what a correct answer gives and compares; nothing the kernel sent is taken on trust (see autograder/probing.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from lab.checks import checkpointing as probes
from autograder.probing import isolated_state
from lab.checks.checkpointing import (ATTENTION_WEIGHTS, D_FF, D_MODEL, FEED_FORWARD_WIDTHS, HEADS,
                                             MEMORY_LAYERS, SEGMENT_SIZES, STRUCTURE_LAYERS,
                                             WITNESS_SEGMENT_SIZES, PlainEncoder, _mix,
                                             _padding_mask, _part_inputs, _seeded_input, _sketched, _step,
                                             install_witness, measure_model, peaks_model_and_input, prescribed,
                                             segments_model, segments_witness, sketch, witness_step)
from lab.provided.attention import MultiHeadAttention
from lab.provided.memory_meter import PeakMemory
from lab.provided.weighted_loss import weighted_loss

from autograder.judging import CheckFailed, Judges, expect, expect_close

JUDGES = Judges(probes.GROUPS)
RTOL, ATOL = 1e-4, 1e-5


def judge(probe):
    """JUDGES.judge, the judge run with the global random streams, thread count and grad mode put back afterwards:
    these judges build torch modules (whose initialisation draws from the global stream) and run torch's checkpoint,
    and outside grading they run in the notebook's own process (GROUPS.run), which must not see a trace of them."""
    def register(fn):
        def isolated(data, seed):
            with isolated_state():
                return fn(data, seed)
        isolated.__name__, isolated.__doc__ = fn.__name__, fn.__doc__
        return JUDGES.judge(probe)(isolated)
    return register


# --- the references ----------------------------------------------------------------------------------------------

class ReferenceEncoder(PlainEncoder):
    """The provided PlainEncoder with 2a's checkpointing: each layer one region, non-reentrant."""

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


def whole_stack(model, x, mask=None):
    """A wrong answer the messages name: the whole stack as one checkpointed region."""
    return reference_segments(model, x, len(model.layers), mask)


_PEAKS: dict[tuple, int] = {}  # the judge's reference peaks, per grading process (see reference_peak)


def reference_peak(model, x, forward, step: str | None = None) -> int:
    """The meter's peak for one training step (grads cleared, forward, weighted_loss, backward).

    With `step` (a name for what `forward` runs), the peak is remembered for this process: the meter counts the
    storages a step allocates, so the same step of a model of the same parameter shapes and dropout on an input of
    the same shape peaks at the same number of bytes whatever the values. The judge, which runs once per notebook
    in the grading process, then measures each of the few shapes once rather than for every student."""
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


def _number(value, what):
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should be a number (int or float), got "
           f"{value.strip('<>') if isinstance(value, str) else type(value).__name__}")
    return value


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{what}: expected a tensor, got {name}")
    return value


# --- 2a: structure ----------------------------------------------------------------------------------------------

def _norm_reference(z, name: str, seed: int) -> torch.Tensor:
    w, b = (prescribed(f"{name}.{kind}", (D_MODEL,), seed) for kind in ("weight", "bias"))
    return F.layer_norm(z.double(), (D_MODEL,), w.double(), b.double(), eps=1e-5)


def _attention_reference(z, i: int, seed: int) -> torch.Tensor:
    attn = MultiHeadAttention(D_MODEL, HEADS, 0.0).double().eval()
    with torch.no_grad():
        for name in ATTENTION_WEIGHTS:
            linear = getattr(attn, name)
            linear.weight.copy_(prescribed(f"layers.{i}.attn.{name}.weight", (D_MODEL, D_MODEL), seed))
            linear.bias.copy_(prescribed(f"layers.{i}.attn.{name}.bias", (D_MODEL,), seed))
        return attn(z.double(), z.double(), z.double(), _padding_mask())


@judge(probes.layers_and_final_norm)
def _(data: dict, seed: int) -> None:
    for num_layers, model in zip(STRUCTURE_LAYERS, data["models"], strict=True):
        layers = model["layers"]
        expect(isinstance(layers, list) and len(layers) == num_layers,
               f"{num_layers} layers asked for, `layers` holds {len(layers) if isinstance(layers, list) else '?'}")
        for i, parts in enumerate(layers):
            z = _part_inputs(seed, i)
            for name in ("norm1", "norm2"):
                what = f"layer {i}'s `{name}` (an nn.LayerNorm(d_model), its weight and bias set by the test)"
                expect_close(_tensor(parts[name], what), _norm_reference(z, f"layers.{i}.{name}", seed), what,
                             rtol=RTOL, atol=ATOL)
            what = f"layer {i}'s `attn` (the provided MultiHeadAttention(d_model, num_heads), with a padding mask)"
            expect_close(_tensor(parts["attn"], what), _attention_reference(z, i, seed), what, rtol=RTOL, atol=ATOL)
        what = "`final_norm` (the final nn.LayerNorm(d_model), its weight and bias set by the test)"
        expect_close(_tensor(model["final_norm"], what), _norm_reference(_part_inputs(seed, 99), "final_norm", seed),
                     what, rtol=RTOL, atol=ATOL)


def _ffn_reference(z, i: int, d_ff: int, seed: int) -> torch.Tensor:
    w1 = prescribed(f"layers.{i}.ffn.0.weight", (d_ff, D_MODEL), seed).double()
    b1 = prescribed(f"layers.{i}.ffn.0.bias", (d_ff,), seed).double()
    w2 = prescribed(f"layers.{i}.ffn.3.weight", (D_MODEL, d_ff), seed).double()
    b2 = prescribed(f"layers.{i}.ffn.3.bias", (D_MODEL,), seed).double()
    return F.linear(F.gelu(F.linear(z.double(), w1, b1)), w2, b2)


@judge(probes.default_feed_forward_width)
def _(data: dict, seed: int) -> None:
    for (d_ff, kwargs), layers in zip(FEED_FORWARD_WIDTHS, data["models"], strict=True):
        how = "d_ff=48" if kwargs else "the default d_ff (None)"
        expect(isinstance(layers, list) and len(layers) == 2,
               f"with {how}, a 2-layer encoder's layers did not come back")
        for i, layer in enumerate(layers):
            width = layer["width"]
            expect(width == d_ff, f"with {how} and d_model={D_MODEL}, layer {i}'s feed-forward network is {width} "
                   f"wide, expected {d_ff}")
            what = f"layer {i}'s `ffn` with {how} (Linear(d_model, d_ff) -> GELU -> Linear(d_ff, d_model))"
            expect_close(_tensor(layer["y"], what), _ffn_reference(_part_inputs(seed, 100 + i), i, d_ff, seed), what,
                         rtol=RTOL, atol=ATOL)


def reference_encoder(num_layers: int, d_ff: object, seed: int, dropout: float = 0.0) -> nn.Module:
    """The reference encoder (plain: these judges compare with runs without checkpointing) with the weights the
    seed prescribes for its parameters' names, the probe's names for the student's parts. Its feed-forward width is
    the one the probe found (the structure checks judge the width)."""
    expect(isinstance(d_ff, int) and not isinstance(d_ff, bool) and 0 < d_ff <= 4096,
           "the feed-forward width did not come back")
    reference = PlainEncoder(num_layers, D_MODEL, HEADS, d_ff=d_ff, dropout=dropout)
    with torch.no_grad():
        for name, param in reference.named_parameters():
            param.copy_(prescribed(name, tuple(param.shape), seed))
    return reference


@judge(probes.computes_the_pre_norm_function)
def _(data: dict, seed: int) -> None:
    reference = reference_encoder(3, data["d_ff"], seed, dropout=0.1)
    with torch.no_grad():
        expected = reference.eval()(_seeded_input(seed, 4), mask=_padding_mask())
    expect_close(_tensor(data["y"], "the encoder's output"), expected,
                 "the encoder's output (compared with norm1 -> attn -> residual, norm2 -> ffn -> residual in each "
                 "layer, then the final norm; with a padding mask)", rtol=RTOL, atol=ATOL)


# --- 2a: outputs and gradients -----------------------------------------------------------------------------------

def _reported_step(data: object, names: list[str], what: str):
    """A reported training step as (output, {name: gradient or None}, input gradient)."""
    expect(isinstance(data, dict) and isinstance(data.get("grads"), dict), f"{what}: no gradients came back")
    expect(sorted(data["grads"]) == sorted(names), f"{what}: the gradients are not those of the reported parameters")
    return data["y"], data["grads"], data["x_grad"]


def _compare_steps(plain, ckpt, what: str) -> None:
    (out0, grads0, xg0), (out1, grads1, xg1) = plain, ckpt
    expect_close(_tensor(out1, f"{what}: the output"), _tensor(out0, f"{what}: the output"),
                 f"{what}: the output with checkpointing", rtol=RTOL, atol=ATOL)
    if xg0 is not None:
        expect(xg1 is not None, f"{what}: with checkpointing no gradient reached the input")
        expect_close(xg1, xg0, f"{what}: the input's gradient with checkpointing", rtol=RTOL, atol=ATOL)
    else:
        expect(xg1 is None, f"{what}: an input gradient came back for an input that does not require grad")
    for name in list(grads0.keys()):
        g0, g1 = grads0[name], grads1[name]
        expect(g0 is not None, f"{what}: without checkpointing, parameter {name} got no gradient")
        expect(g1 is not None, f"{what}: with checkpointing, parameter {name} got no gradient")
        expect_close(g1, g0, f"{what}: the gradient of {name} with checkpointing", rtol=RTOL, atol=ATOL)


def _compare_with_reference(expected, reported, what: str) -> None:
    """The reported plain run against the reference's (every gradient present)."""
    (out0, grads0, xg0), (out1, grads1, xg1) = expected, reported
    how = "differs from a pre-norm encoder with the same weights"
    expect_close(_tensor(out1, f"{what}: the output"), out0, f"{what}: the output {how}", rtol=RTOL, atol=ATOL)
    if xg0 is not None:
        expect_close(_tensor(xg1, f"{what}: the input's gradient"), xg0, f"{what}: the input's gradient {how}",
                     rtol=RTOL, atol=ATOL)
    for name, g0 in grads0.items():
        expect_close(grads1[name], g0, f"{what}: the gradient of {name} {how}", rtol=RTOL, atol=ATOL)


def _judge_runs(runs: dict, names: list[str], what: str, expected=None) -> None:
    expect(isinstance(runs, dict) and sorted(runs) == ["checkpointed", "plain"], f"{what}: the runs did not come back")
    plain_run = _reported_step(runs["plain"], names, f"{what}, without checkpointing")
    ckpt_run = _reported_step(runs["checkpointed"], names, f"{what}, with checkpointing")
    _compare_steps(plain_run, ckpt_run, what)
    if expected is not None:
        _compare_with_reference(expected, plain_run, f"{what}, without checkpointing")


def _expected_step(reference, x, mask, weight_stream, seed):
    return _sketched(_step(reference, x, mask, False, weight_seed=weight_stream), seed)


def _names(reference) -> list[str]:
    return [name for name, _ in reference.named_parameters()]


@judge(probes.same_outputs_and_gradients_with_a_mask)
def _(data: dict, seed: int) -> None:
    reference = reference_encoder(3, data["d_ff"], seed)
    reference.train()
    for case, stream, weights, mask in (("mask", 6, 99, _padding_mask()), ("no mask", 7, 98, None)):
        expected = _expected_step(reference, _seeded_input(seed, stream, requires_grad=True), mask,
                                  _mix(seed, weights), seed)
        _judge_runs(data[case], _names(reference), "with a padding mask" if mask is not None else "without a mask",
                    expected)


@judge(probes.same_gradients_with_dropout)
def _(data: dict, seed: int) -> None:
    # Which units dropout drops depends on the order the student's code draws its masks in, which the API leaves
    # open: the two dropout runs are compared with each other; the same model in eval mode (no dropout) with the
    # reference, which ties the data to this seed's weights and input.
    reference = reference_encoder(3, data["d_ff"], seed, dropout=0.2)
    with torch.no_grad():
        expected = reference.eval()(_seeded_input(seed, 9))
    expect_close(_tensor(data["y_eval"], "the output in eval mode"), expected,
                 "with dropout 0.2, the same encoder in eval mode", rtol=RTOL, atol=ATOL)
    _judge_runs(data["runs"], _names(reference),
                "with dropout 0.2 and the same seed (are the dropout masks replayed in the recomputation?)")


@judge(probes.parameters_get_gradients_when_input_needs_none)
def _(data: dict, seed: int) -> None:
    reference = reference_encoder(2, data["d_ff"], seed)
    expected = _expected_step(reference.train(), _seeded_input(seed, 12), None, _mix(seed, 99), seed)
    _judge_runs(data["runs"], _names(reference), "an input that does not require grad", expected)


# --- the recomputation witness ------------------------------------------------------------------------------------

def witness_reference(num_layers: int, seed: int, p: float = 0.0):
    """The judge's witness: the reference encoder with the probe's drifting parts (see install_witness)."""
    torch.manual_seed(0)
    model = ReferenceEncoder(num_layers, D_MODEL, HEADS, d_ff=D_FF, dropout=p)
    return model, install_witness(model, seed, p)


def _expected_witness(num_layers: int, seed: int, stream: int, x: torch.Tensor, run: str, p: float = 0.0) -> dict:
    """The data a witness step gives when the encoder is run as `run` says: "per layer" (2a's answer), "plain"
    (nothing recomputed), "eval", "whole stack" (one region)."""
    model, params = witness_reference(num_layers, seed, p)
    model.eval() if run == "eval" else model.train()
    forward = {"per layer": lambda: model(x, use_checkpointing=True),
               "plain": lambda: model(x, use_checkpointing=False),
               "eval": lambda: model(x),
               "whole stack": lambda: whole_stack(model, x)}[run]
    return witness_step(params, x, seed, stream, forward)


def _witness_differs(data: dict, expected: dict) -> str | None:
    """None when the reported witness step is the expected one; else what differs first."""
    try:
        expect_close(_tensor(data["y"], "the output"), expected["y"], "the output", rtol=RTOL, atol=ATOL)
        if expected["x_grad"] is None:
            expect(data["x_grad"] is None, "the input's gradient (the input does not require grad)")
        else:
            expect(data["x_grad"] is not None, "no gradient reached the input")
            expect_close(data["x_grad"], expected["x_grad"], "the input's gradient", rtol=RTOL, atol=ATOL)
        grads = data["grads"]
        expect(isinstance(grads, dict) and sorted(grads) == sorted(expected["grads"]),
               "the gradients of the layers' parts did not come back")
        for name, g0 in expected["grads"].items():
            expect(grads[name] is not None, f"the parameter {name} got no gradient")
            expect_close(grads[name], g0, f"the gradient of {name}", rtol=RTOL, atol=ATOL)
    except CheckFailed as exc:
        return str(exc)
    return None


WRONG_RUNS = {
    "plain": "nothing was recomputed in the backward pass (no checkpointing)",
    "per layer": "each layer was checkpointed and recomputed",
    "whole stack": "the whole stack was recomputed as ONE region (in forward order, all at once)",
}


def judge_witness(data: dict, seed: int, num_layers: int, stream: int, x: torch.Tensor, run: str, what: str,
                  expected_behaviour: str) -> None:
    """Compare a reported witness step with the reference's; on a mismatch, say which wrong behaviour it shows."""
    differs = _witness_differs(data, _expected_witness(num_layers, seed, stream, x, run))
    if differs is None:
        return
    for other, shown in WRONG_RUNS.items():
        if other != run and _witness_differs(data, _expected_witness(num_layers, seed, stream, x, other)) is None:
            raise CheckFailed(f"{what}: {shown}; expected: {expected_behaviour}")
    raise CheckFailed(f"{what}: the outputs and gradients are not those of {expected_behaviour} ({differs}): which "
                      "layers run again in the backward pass, how often and in which order shows in them")


PER_LAYER = ("each layer checkpointed on its own, recomputed once in the backward pass, from the last layer to the "
             "first")


@judge(probes.checkpointed_step_recomputes_each_layer_once)
def _(data: dict, seed: int) -> None:
    judge_witness(data, seed, 3, 13, _seeded_input(seed, 13, requires_grad=True), "per layer",
                  "a 3-layer checkpointed training step", PER_LAYER)


@judge(probes.plain_step_recomputes_nothing)
def _(data: dict, seed: int) -> None:
    judge_witness(data, seed, 3, 14, _seeded_input(seed, 14, requires_grad=True), "plain",
                  "a training step with use_checkpointing=False", "nothing recomputed")


@judge(probes.eval_mode_recomputes_nothing)
def _(data: dict, seed: int) -> None:
    judge_witness(data, seed, 3, 15, _seeded_input(seed, 15, requires_grad=True), "eval",
                  "a step in eval mode (gradients enabled)", "nothing recomputed (checkpoint only when training)")


@judge(probes.no_grad_forward_is_plain)
def _(data: dict, seed: int) -> None:
    model, _ = witness_reference(3, seed)
    model.train()
    runs = data["runs"]
    expect(isinstance(runs, list) and len(runs) == 2, "the two forward passes under no_grad did not come back")
    for i, (stream, run) in enumerate(zip((16, 17), runs)):
        with torch.no_grad():
            expected = model(_seeded_input(seed, stream))
        what = "the first" if i == 0 else "the second (after a first one: it shows how often the layers ran before)"
        expect(run["requires_grad"] is False,
               "under no_grad the output requires grad: the forward pass built a graph (there is nothing to "
               "checkpoint without gradients)")
        expect_close(_tensor(run["y"], f"{what} forward pass under no_grad"), expected,
                     f"{what} forward pass under no_grad (each layer should run once)", rtol=RTOL, atol=ATOL)


@judge(probes.frozen_input_step_recomputes_layer_by_layer)
def _(data: dict, seed: int) -> None:
    judge_witness(data, seed, MEMORY_LAYERS, 18, probes.memory_input(seed, 18), "per layer",
                  f"a {MEMORY_LAYERS}-layer checkpointed training step on an input that does not require grad",
                  PER_LAYER)


# The peak must lie near per-layer checkpointing's, far from the plain step's: within a quarter of the way from the
# first to the second (and no more than 10% below it). A 5% band around per-layer's failed reentrant checkpointing
# (a per-layer checkpoint too) for some of the shapes the seed draws: its saved tensors differ a little.
PEAK_BAND = (0.9, 0.25)


@judge(probes.checkpointed_peak_is_per_layer)
def _(data: dict, seed: int) -> None:
    model, _ = witness_reference(MEMORY_LAYERS, seed)
    x = probes.memory_input(seed, 19).requires_grad_()
    with torch.no_grad():
        expected_y = model.eval()(x)
    expect_close(_tensor(data["y"], "the output"), expected_y, "the checkpointed step's output", rtol=RTOL, atol=ATOL)
    per_layer = reference_peak(model, x, lambda: model(x, use_checkpointing=True), step="witness, per layer")
    plain = reference_peak(model, x, lambda: model(x, use_checkpointing=False), step="witness, plain")
    peak = _number(data["peak"], "the peak")
    low, up = PEAK_BAND
    expect(low * per_layer <= peak <= per_layer + up * (plain - per_layer),
           f"a {MEMORY_LAYERS}-layer checkpointed training step peaked at {peak / 2**20:.2f} MiB (forward and "
           f"backward, the meter of the notebook); checkpointing each layer gives {per_layer / 2**20:.2f} MiB, no "
           f"checkpointing {plain / 2**20:.2f} MiB (a region rebuilt in backward is alive there; a tensor kept "
           "elsewhere stays alive)")


# --- 2b --------------------------------------------------------------------------------------------------------------

def _measure_peak(seed: int, use_checkpointing: bool) -> int:
    model, x = measure_model(seed)
    return reference_peak(model, x, lambda: model(x, use_checkpointing=use_checkpointing),
                          step=f"measured encoder, use_checkpointing={use_checkpointing}")


@judge(probes.peak_matches_the_meter)
def _(data: dict, seed: int) -> None:
    results = data["results"]
    expect(isinstance(results, list) and len(results) == 2, "the two measurements did not come back")
    for use_checkpointing, result in zip((False, True), results):
        expect(isinstance(result, list), "train_step_cost should return (peak_bytes, seconds)")
        peak = _number(result[0], "peak_bytes")
        _number(result[1], "seconds")
        expected = _measure_peak(seed, use_checkpointing)
        expect(abs(peak - expected) <= 0.05 * expected,
               f"use_checkpointing={use_checkpointing}: your function returned {peak:.4g} as the peak, the meter "
               f"measured {expected} bytes for one training step (gradients cleared first, forward AND backward, "
               f"in bytes)")


@judge(probes.seconds_are_wall_clock_seconds)
def _(data: dict, seed: int) -> None:
    result, elapsed = data["result"], _number(data["elapsed"], "the call's duration")
    expect(isinstance(result, list), "train_step_cost should return (peak_bytes, seconds)")
    _number(result[0], "peak_bytes")
    seconds = _number(result[1], "seconds")
    expect(0 < seconds <= elapsed,
           f"the time returned was {seconds:.4g}, but the whole call took {elapsed:.4g} s: return the time of one "
           f"step in seconds")


def _expected_grads_after_one_step(model, x, seed: int, stream: int) -> dict:
    model.eval()
    model.zero_grad(set_to_none=True)
    out = model(x)
    (out * probes._weights(out, _mix(seed, stream))).sum().backward()
    return {name: sketch(name, p.grad, seed) for name, p in model.named_parameters()}


def _judge_cleared(grads: object, expected: dict, what: str) -> None:
    expect(isinstance(grads, dict) and sorted(grads) == sorted(expected),
           "the parameters' gradients after the measurement did not come back")
    for name, g0 in expected.items():
        g1 = grads[name]
        expect(g1 is not None, f"one step after {what}, parameter {name} got no gradient")
        expect_close(_tensor(g1, f"the gradient of {name}"), g0,
                     f"one more step after {what}: the gradient of {name} is not that step's (gradients left behind "
                     "by the measurement are added to: clear them with model.zero_grad(set_to_none=True); or the "
                     "model's weights were changed)", rtol=RTOL, atol=ATOL)


@judge(probes.gradients_left_cleared)
def _(data: dict, seed: int) -> None:
    model, x = measure_model(seed, 2, dropout=0.0)
    _judge_cleared(data["grads"], _expected_grads_after_one_step(model, x, seed, 27), "train_step_cost")


# --- 2c --------------------------------------------------------------------------------------------------------------

@judge(probes.segments_compute_the_same_function_and_gradients)
def _(data: dict, seed: int) -> None:
    model, mask = segments_model(), _padding_mask()
    x = _seeded_input(seed, 23, requires_grad=True)
    plain_run = _sketched(_step(model, x, mask, False, weight_seed=_mix(seed, 99)), seed)
    names = [name for name, _ in model.named_parameters()]
    runs = data["runs"]
    expect(isinstance(runs, list) and len(runs) == len(SEGMENT_SIZES), "the runs for every k did not come back")
    for k, run in zip(SEGMENT_SIZES, runs):
        _compare_steps(plain_run, _reported_step(run, names, f"checkpoint_every with k={k}"),
                       f"checkpoint_every with k={k}")


@judge(probes.segments_of_k_layers_are_recomputed)
def _(data: dict, seed: int) -> None:
    runs = data["runs"]
    expect(isinstance(runs, list) and len(runs) == len(WITNESS_SEGMENT_SIZES), "the runs for every k did not come back")
    for k, run in zip(WITNESS_SEGMENT_SIZES, runs):
        x = _seeded_input(seed, 24, requires_grad=True)

        def expected(forward):
            model, params = segments_witness(seed, k)
            return witness_step(params, x, seed, 24, lambda: forward(model))

        if _witness_differs(run, expected(lambda m: reference_segments(m, x, k))) is None:
            continue
        others = (("the last segment run plainly", lambda m: _last_segment_plain(m, x, k)),
                  ("nothing checkpointed", lambda m: m(x)),
                  ("the whole stack as one region", lambda m: whole_stack(m, x)))
        shown = next((name for name, forward in others if _witness_differs(run, expected(forward)) is None), None)
        layers = list(range(probes.WITNESS_SEGMENT_LAYERS))
        segments = [layers[s:s + k] for s in range(0, len(layers), k)]
        raise CheckFailed(f"k={k}: the outputs and gradients are not those of the segments {segments}, each "
                          f"checkpointed (the last one too) and rebuilt in the backward pass from the last"
                          + (f": they are those of {shown}" if shown else ""))


def _last_segment_plain(model, x, k):
    layers = list(model.layers)
    starts = list(range(0, len(layers), k))
    for start in starts[:-1]:
        segment = layers[start:start + k]
        x = checkpoint(lambda h, segment=segment: _run_layers(segment, h), x, use_reentrant=False)
    x = _run_layers(layers[starts[-1]:], x)
    return model.final_norm(x)


def _run_layers(layers, h):
    for layer in layers:
        h = layer(h)
    return h


@judge(probes.peaks_for_every_k_match_the_meter)
def _(data: dict, seed: int) -> None:
    peaks = data["peaks"]
    num_layers = 4
    expect(isinstance(peaks, list) and all(isinstance(p, list) and len(p) == 2 for p in peaks),
           f"peak_by_k should return a dict, got {str(peaks).strip('<>')}")
    keys = [k for k, _ in peaks]
    expect(sorted(keys) == [str(k) for k in range(1, num_layers + 1)],
           f"for a {num_layers}-layer model peak_by_k should return a dict with the keys 1, 2, 3, 4; got "
           f"{', '.join(map(str, keys))}")
    model, x = peaks_model_and_input(seed)
    _judge_cleared(data["grads"], _expected_grads_after_one_step(model, x, seed, 28), "peak_by_k")
    model, x = peaks_model_and_input(seed)
    for key, value in peaks:
        k = int(key)
        expected = reference_peak(model, x, lambda: reference_segments(model, x, k), step=f"segments of {k}")
        peak = _number(value, f"the peak for k={k}")
        expect(abs(peak - expected) <= 0.05 * expected,
               f"k={k}: you reported {peak:.4g} bytes, the meter measured {expected} for a training step with "
               f"segments of {k} layers (gradients cleared first, forward and backward)")
