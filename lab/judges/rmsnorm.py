"""Judges of exercise 3a's probes (lab/checks/rmsnorm.py): each rebuilds the probe's inputs from the seed,
computes the float64 reference and compares. Every judge compares the outputs it is given with the reference's for
the same inputs, the property and form checks too (after their own message, which says what is wrong): a check that
looked only at the data's form (shape, dtype, an input sent back unchanged) or at its outputs' relations with each
other passed made-up data (the identity's outputs, the inputs themselves: issue 20,
tests/adversarial/cases/forged_made_up_data.py), so no point can be had without the outputs RMSNorm computes."""
from __future__ import annotations

import torch

from lab.checks import rmsnorm as probes
from lab.checks.rmsnorm import (EPS_VALUES, STEP_SIZE, KEPT_DTYPES, PARAMETER_WIDTHS, SCALE_FACTORS, SHAPES,
                                       UNCHANGED_DTYPES, _gradient_inputs, _large_input, _position_inputs, _randn,
                                       _step_inputs, _unchanged_input, _values_inputs, random_scale)

from autograder.judging import CheckFailed, Judges, expect, expect_close

JUDGES = Judges(probes.GROUPS)
HALF_TOLERANCES = ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2))


def reference(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    """y = x / sqrt(mean(x^2) + eps) * scale, computed in float64."""
    x64 = x.double()
    return x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * scale.double()


def returned(value: object, what: str) -> torch.Tensor:
    """A tensor the student's code returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{what}: forward should return a tensor, got {name}")
    return value


def same_shape(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    expect(actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")


def are_the_reference(y: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, what: str, tol: float = 1e-4) -> None:
    """The outputs themselves are RMSNorm's (eps = 1e-6) for the inputs the seed gave: what binds a property or form
    check to this run and to the asked computation (made-up outputs have the properties, not the values)."""
    expect_close(y.double(), reference(x, scale, 1e-6).to(y.dtype).double(),
                 f"{what} (the outputs themselves, compared with the reference)", rtol=tol, atol=tol / 10)


def follows_inputs(y: torch.Tensor, x: torch.Tensor, what: str) -> None:
    """A normalisation with a positive scale keeps the sign of (almost) every element: RMSNorm keeps all of them, and
    so does every realistic wrong one (LayerNorm's mean removal flips a few). Outputs computed for other inputs agree
    in sign about half the time, made-up ones (zeros) never."""
    same_shape(y, x, what)
    agree = (torch.sign(y.double()) == torch.sign(x.double())).double().mean().item()
    expect(agree > 0.75, f"{what}: the outputs do not follow the inputs the grader chose (computed for other inputs?)")


@JUDGES.judge(probes.values_match_reference)
def _(data: dict, seed: int) -> None:
    for i, shape in enumerate(SHAPES):
        x, scale = _values_inputs(seed, i)
        what = f"input of shape {shape}"
        expect_close(returned(data["outputs"][i], what), reference(x, scale, 1e-6), what, rtol=1e-4, atol=1e-5)


@JUDGES.judge(probes.normalises_each_position_separately)
def _(data: dict, seed: int) -> None:
    x, x2 = _position_inputs(seed)
    y, y2 = returned(data["y"], "input of shape (6, 16)"), returned(data["y2"], "input of shape (6, 16)")
    follows_inputs(y, x, "input of shape (6, 16)")
    follows_inputs(y2, x2, "input of shape (6, 16)")
    others = [i for i in range(6) if i != 2]
    expect(torch.allclose(y[others], y2[others], rtol=1e-5, atol=1e-6),
           "changing the input at one position changed the output at other positions: the statistic must be "
           "computed over the last dimension only, separately for every position")
    scale = random_scale(16, seed, 3)
    are_the_reference(y, x, scale, "input of shape (6, 16)")
    are_the_reference(y2, x2, scale, "input of shape (6, 16), one position changed")


@JUDGES.judge(probes.eps_inside_square_root)
def _(data: dict, seed: int) -> None:
    x, what = _randn((4, 32), seed, 7) * 1e-3, "input with values around 1e-3"
    expect_close(returned(data["y"], what), reference(x, random_scale(32, seed, 6), 1e-6), what,
                 rtol=1e-4, atol=1e-6)


@JUDGES.judge(probes.eps_argument_honoured)
def _(data: dict, seed: int) -> None:
    x, scale = _randn((4, 32), seed, 9) * 0.05, random_scale(32, seed, 8)
    for i, eps in enumerate(EPS_VALUES):
        what = f"RMSNorm(32, eps={eps})"
        expect_close(returned(data["outputs"][i], what), reference(x, scale, eps), what, rtol=1e-4, atol=1e-6)


@JUDGES.judge(probes.default_eps_is_1e_6)
def _(data: dict, seed: int) -> None:
    what = "RMSNorm(32) on a small input (is the default eps 1e-6?)"
    x = _randn((4, 32), seed, 11) * 3e-3
    expect_close(returned(data["y"], what), reference(x, random_scale(32, seed, 10), 1e-6), what,
                 rtol=1e-4, atol=1e-6)


@JUDGES.judge(probes.scale_is_one_parameter_initialised_to_ones)
def _(data: dict, seed: int) -> None:
    for d_model, module in zip(PARAMETER_WIDTHS, data["modules"], strict=True):
        shapes = [tuple(int(n) for n in shape) for shape in module["shapes"]]
        expect(len(shapes) == 1,
               f"RMSNorm should have exactly one learnable parameter (the scale), found {len(shapes)}: {shapes}")
        expect(shapes[0] == (d_model,), f"the scale should have shape (d_model,) = ({d_model},), found {shapes[0]}")
        x, weights = _step_inputs(seed, d_model)
        ones = torch.ones(d_model, dtype=torch.float64, requires_grad=True)
        (reference(x, ones, 1e-6) * weights.double()).sum().backward()
        what = f"RMSNorm({d_model}) as constructed"
        expect_close(returned(module["fresh"], what), reference(x, torch.ones(d_model), 1e-6),
                     f"{what} (is the scale initialised to ones?)", rtol=1e-4, atol=1e-5)
        stepped = reference(x, (ones - STEP_SIZE * ones.grad).detach(), 1e-6)
        expect_close(returned(module["stepped"], what), stepped,
                     f"{what}, after one gradient step on its parameters (is the scale learnable, and the "
                     "parameter the module lists the one forward uses?)", rtol=1e-4, atol=1e-5)


@JUDGES.judge(probes.scale_gets_the_right_gradient)
def _(data: dict, seed: int) -> None:
    expect(data["grad"] is not None,
           "the scale received no gradient: is it used in forward (not a detached copy)?")
    x, weights = _gradient_inputs(seed, (3, 5, 24), 13)
    ref_scale = random_scale(24, seed, 12).double().requires_grad_()
    (reference(x, ref_scale, 1e-6) * weights.double()).sum().backward()
    expect_close(returned(data["grad"], "the scale's gradient"), ref_scale.grad, "the scale's gradient",
                 rtol=1e-4, atol=1e-5)


@JUDGES.judge(probes.input_gets_the_right_gradient)
def _(data: dict, seed: int) -> None:
    expect(data["grad"] is not None,
           "no gradient reached the input: is something detached or run under no_grad?")
    x, weights = _gradient_inputs(seed, (4, 24), 16)
    x_ref = x.double().requires_grad_()
    (reference(x_ref, random_scale(24, seed, 15), 1e-6) * weights.double()).sum().backward()
    expect_close(returned(data["grad"], "the input's gradient"), x_ref.grad, "the input's gradient",
                 rtol=1e-4, atol=1e-5)


@JUDGES.judge(probes.float32_and_float64_kept)
def _(data: dict, seed: int) -> None:
    for dtype, y in zip(KEPT_DTYPES, data["outputs"], strict=True):
        x = _randn((2, 3, 16), seed, 18).to(dtype)
        y = returned(y, f"a {dtype} input")
        expect(y.shape == x.shape, f"output shape {tuple(y.shape)} differs from the input's {tuple(x.shape)}")
        expect(y.dtype == dtype, f"a {dtype} input gave a {y.dtype} output: return the input's dtype")
        are_the_reference(y, x, torch.ones(16), f"RMSNorm(16) on a {dtype} input")


@JUDGES.judge(probes.half_precision_large_values)
def _(data: dict, seed: int) -> None:
    scale = random_scale(64, seed, 19)
    for (dtype, tol), y in zip(HALF_TOLERANCES, data["outputs"], strict=True):
        x = _large_input(seed, dtype)
        y = returned(y, f"a {dtype} input")
        expect(y.dtype == dtype, f"a {dtype} input gave a {y.dtype} output: cast the result back to the input's dtype")
        if dtype == torch.float16:
            expect(bool(torch.isfinite(y.float()).all()),
                   "a float16 input with values up to about 1000 gave inf/NaN: squares above 65504 overflow in "
                   "float16, so compute the mean of squares in float32")
            hint = " (squares above 65504 overflow in float16: is the mean of squares computed in float32?)"
        else:
            expect(bool(torch.isfinite(y.float()).all()), "a bfloat16 input with large values gave inf/NaN")
            hint = ""
        expected = reference(x.float(), scale, 1e-6)
        expect_close(y.float(), expected.to(dtype).float(), f"{dtype} input with large values{hint}",
                     rtol=tol, atol=tol)


@JUDGES.judge(probes.input_left_unchanged)
def _(data: dict, seed: int) -> None:
    scale = random_scale(16, seed, 21)
    for dtype, after, y in zip(UNCHANGED_DTYPES, data["inputs_after"], data["outputs"], strict=True):
        before = _unchanged_input(seed, dtype)
        after = returned(after, "the input after forward")
        expect(after.dtype == dtype and torch.equal(after, before), f"forward changed its {dtype} input in place")
        # the output's values only (its dtype is the dtypes checks' business)
        are_the_reference(returned(y, f"a {dtype} input").double(), before.double(), scale, f"a {dtype} input",
                          tol=2e-3 if dtype == torch.float16 else 1e-4)


@JUDGES.judge(probes.scale_invariant)
def _(data: dict, seed: int) -> None:
    x = _randn((5, 32), seed, 24)
    y = returned(data["y"], "input of shape (5, 32)")
    follows_inputs(y, x, "input of shape (5, 32)")
    for c, scaled in zip(SCALE_FACTORS, data["scaled"], strict=True):
        expect(torch.allclose(returned(scaled, f"input times {c}"), y, rtol=1e-4, atol=1e-5),
               f"multiplying the input by {c} changed the output: RMSNorm should be invariant to re-scaling")
    expect(torch.allclose(returned(data["negated"], "negated input"), -y, rtol=1e-4, atol=1e-5),
           "f(-x) should equal -f(x)")
    are_the_reference(y, x, random_scale(32, seed, 23), "input of shape (5, 32)")


@JUDGES.judge(probes.no_recentering)
def _(data: dict, seed: int) -> None:
    x = _randn((8, 64), seed, 25) + 3.0
    y = returned(data["y"], "input of shape (8, 64)")
    # the row means alone do not depend on the order of the features: the deviations from them do
    follows_inputs(y - y.mean(-1, keepdim=True), x - x.mean(-1, keepdim=True), "input of shape (8, 64)")
    expected_mean = reference(x, torch.ones(64), 1e-6).mean(-1)
    expect(bool((y.double().mean(-1) - expected_mean).abs().max() < 1e-3),
           "the output's mean is wrong for an input with a non-zero mean: RMSNorm re-scales, it does not "
           "re-center (no mean is subtracted)")

