"""Hidden checks for exercise 3a, `RMSNorm(d_model, eps=1e-6)`.

What the notebook states, and so all these checks rely on: an nn.Module with ONE learnable scale vector of shape
(d_model,) initialised to ones, normalising over the last dimension, y = x / sqrt(mean(x**2) + eps) * scale,
returning the input's dtype, computing the statistic in float32 (at least) for float16 inputs, leaving its input
unchanged. The scale's attribute name is not stated, so it is found as the module's only parameter.

Half precision: what matters is float16's range. Its largest value is 65504, so x**2 overflows for |x| > 256
(256**2 = 65536): a float16 statistic gives inf/NaN or zeros on large activations, which the checks see.
bfloat16 has float32's range, and torch accumulates a bfloat16 mean in float32 anyway, so at bfloat16's precision
no check can tell a float32 statistic from a bfloat16 one: the notebook does not require it, and nothing here
checks it (bfloat16 inputs must still give bfloat16 outputs of the right values).

Every check is judged outside the student's process (see _core.py): its probe builds the inputs from the seed
(fixed random numbers, their features in an order drawn from the seed: `features`), calls the student's class and
returns what came out; its judge rebuilds the same inputs from the same seed,
computes the float64 reference itself and compares. The judges of property checks (which compare the outputs with
each other, not with the reference) also require the outputs to follow the inputs the seed gave, so that data
recorded for other inputs, or made up, fails them too.
"""
from __future__ import annotations

import torch
from torch import nn

from ._core import CheckFailed, CheckGroups, expect, expect_close, plain

GROUPS = CheckGroups()
probe = GROUPS.probe

SHAPES = [(4, 16), (2, 5, 32), (3, 2, 7, 24)]  # several ranks and widths: nothing may assume one of them


def reference(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    """y = x / sqrt(mean(x^2) + eps) * scale, computed in float64."""
    x64 = x.double()
    return x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * scale.double()


def _generator(stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(stream)


def features(seed: int, d_model: int) -> torch.Tensor:
    """The order of the features for this seed: one permutation per width, shared by every input, scale and
    weighting of that width, so that a check sees the same numbers for every seed, in another order. A norm over
    the last dimension commutes with it, so every implementation passes or fails a check whatever the seed is,
    while data recorded for another seed (another grading run) is in another order and does not match. Seed 0
    (the unit tests') keeps the natural order."""
    if seed == 0:
        return torch.arange(d_model)
    return torch.randperm(d_model, generator=torch.Generator().manual_seed((seed * 1_000_003 + d_model) % 2**63))


def _randn(shape, seed: int, stream: int) -> torch.Tensor:
    return torch.randn(shape, generator=_generator(stream))[..., features(seed, shape[-1])]


def make(cls, d_model: int, **kwargs) -> nn.Module:
    module = cls(d_model, **kwargs)
    expect(isinstance(module, nn.Module), "RMSNorm must be an nn.Module (subclass torch.nn.Module)")
    return module


def scale_parameter(module: nn.Module, d_model: int) -> nn.Parameter:
    params = list(module.parameters())
    expect(len(params) == 1,
           f"RMSNorm should have exactly one learnable parameter (the scale), found {len(params)}: "
           f"{[tuple(p.shape) for p in params]}")
    expect(tuple(params[0].shape) == (d_model,),
           f"the scale should have shape (d_model,) = ({d_model},), found {tuple(params[0].shape)}")
    return params[0]


def random_scale(d_model: int, seed: int, stream: int) -> torch.Tensor:
    """A random scale (a scale of ones hides mistakes in where the scale is applied): the probe sets it, the judge
    computes the reference with it."""
    return (0.5 + torch.rand(d_model, generator=_generator(stream)))[features(seed, d_model)]


def with_random_scale(cls, d_model: int, seed: int, stream: int, **kwargs) -> nn.Module:
    module = make(cls, d_model, **kwargs)
    scale = scale_parameter(module, d_model)
    with torch.no_grad():
        scale.copy_(random_scale(d_model, seed, stream).to(scale.dtype))
    return module


# --- reading what a probe reported (untrusted: anything malformed fails the check) ----------------------------

def returned(value: object, what: str) -> torch.Tensor:
    """A tensor the student's code returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{what}: forward should return a tensor, got {name}")
    return value


def same_shape(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    expect(actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")


def follows_inputs(y: torch.Tensor, x: torch.Tensor, what: str) -> None:
    """A normalisation with a positive scale keeps the sign of (almost) every element: RMSNorm keeps all of them, and
    so does every realistic wrong one (LayerNorm's mean removal flips a few). Outputs computed for other inputs agree
    in sign about half the time, made-up ones (zeros) never."""
    same_shape(y, x, what)
    agree = (torch.sign(y.double()) == torch.sign(x.double())).double().mean().item()
    expect(agree > 0.75, f"{what}: the outputs do not follow the inputs the grader chose (computed for other inputs?)")


# --- values -------------------------------------------------------------------------------------------------

def _values_inputs(seed: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    shape = SHAPES[i]
    return _randn(shape, seed, 10 + i) * 3, random_scale(shape[-1], seed, i)


@probe("values")
def values_match_reference(cls, seed: int) -> dict:
    """float32 outputs equal a float64 reference for several shapes, with a random scale"""
    outputs = []
    for i, shape in enumerate(SHAPES):
        module = with_random_scale(cls, shape[-1], seed, i)
        outputs.append(plain(module(_values_inputs(seed, i)[0])))
    return {"outputs": outputs}


@values_match_reference.judge
def _(data: dict, seed: int) -> None:
    for i, shape in enumerate(SHAPES):
        x, scale = _values_inputs(seed, i)
        what = f"input of shape {shape}"
        expect_close(returned(data["outputs"][i], what), reference(x, scale, 1e-6), what, rtol=1e-4, atol=1e-5)


def _position_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = _randn((6, 16), seed, 4)
    x2 = x.clone()
    x2[2] = _randn((16,), seed, 5) * 10
    return x, x2


@probe("values")
def normalises_each_position_separately(cls, seed: int) -> dict:
    """changing one position (row) leaves every other position's output unchanged"""
    module = with_random_scale(cls, 16, seed, 3)
    x, x2 = _position_inputs(seed)
    return {"y": plain(module(x)), "y2": plain(module(x2))}


@normalises_each_position_separately.judge
def _(data: dict, seed: int) -> None:
    x, x2 = _position_inputs(seed)
    y, y2 = returned(data["y"], "input of shape (6, 16)"), returned(data["y2"], "input of shape (6, 16)")
    follows_inputs(y, x, "input of shape (6, 16)")
    follows_inputs(y2, x2, "input of shape (6, 16)")
    others = [i for i in range(6) if i != 2]
    expect(torch.allclose(y[others], y2[others], rtol=1e-5, atol=1e-6),
           "changing the input at one position changed the output at other positions: the statistic must be "
           "computed over the last dimension only, separately for every position")


@probe("values")
def eps_inside_square_root(cls, seed: int) -> dict:
    """inputs with a tiny norm (where the place of eps matters) match the reference"""
    module = with_random_scale(cls, 32, seed, 6)
    return {"y": plain(module(_randn((4, 32), seed, 7) * 1e-3))}


@eps_inside_square_root.judge
def _(data: dict, seed: int) -> None:
    x, what = _randn((4, 32), seed, 7) * 1e-3, "input with values around 1e-3"
    expect_close(returned(data["y"], what), reference(x, random_scale(32, seed, 6), 1e-6), what,
                 rtol=1e-4, atol=1e-6)


EPS_VALUES = (1e-2, 1e-4)


@probe("values")
def eps_argument_honoured(cls, seed: int) -> dict:
    """the eps passed to the constructor is the one used"""
    outputs = []
    for eps in EPS_VALUES:
        module = with_random_scale(cls, 32, seed, 8, eps=eps)
        outputs.append(plain(module(_randn((4, 32), seed, 9) * 0.05)))
    return {"outputs": outputs}


@eps_argument_honoured.judge
def _(data: dict, seed: int) -> None:
    x, scale = _randn((4, 32), seed, 9) * 0.05, random_scale(32, seed, 8)
    for i, eps in enumerate(EPS_VALUES):
        what = f"RMSNorm(32, eps={eps})"
        expect_close(returned(data["outputs"][i], what), reference(x, scale, eps), what, rtol=1e-4, atol=1e-6)


@probe("values")
def default_eps_is_1e_6(cls, seed: int) -> dict:
    """RMSNorm(d_model) uses eps = 1e-6"""
    module = with_random_scale(cls, 32, seed, 10)
    return {"y": plain(module(_randn((4, 32), seed, 11) * 3e-3))}


@default_eps_is_1e_6.judge
def _(data: dict, seed: int) -> None:
    what = "RMSNorm(32) on a small input (is the default eps 1e-6?)"
    x = _randn((4, 32), seed, 11) * 3e-3
    expect_close(returned(data["y"], what), reference(x, random_scale(32, seed, 10), 1e-6), what,
                 rtol=1e-4, atol=1e-6)


# --- parameters and gradients ---------------------------------------------------------------------------------

PARAMETER_WIDTHS = (8, 20)


@probe("parameters")
def scale_is_one_parameter_initialised_to_ones(cls, seed: int) -> dict:
    """one learnable scale vector of shape (d_model,), initialised to ones, and no other parameter"""
    modules = []
    for d_model in PARAMETER_WIDTHS:
        modules.append([{"values": plain(p), "requires_grad": bool(p.requires_grad)}
                        for p in make(cls, d_model).parameters()])
    return {"parameters": modules}


@scale_is_one_parameter_initialised_to_ones.judge
def _(data: dict, seed: int) -> None:
    for d_model, params in zip(PARAMETER_WIDTHS, data["parameters"], strict=True):
        values = [returned(p["values"], "a parameter") for p in params]
        expect(len(values) == 1,
               f"RMSNorm should have exactly one learnable parameter (the scale), found {len(values)}: "
               f"{[tuple(v.shape) for v in values]}")
        expect(tuple(values[0].shape) == (d_model,),
               f"the scale should have shape (d_model,) = ({d_model},), found {tuple(values[0].shape)}")
        expect(params[0]["requires_grad"] is True, "the scale must be learnable (requires_grad=True)")
        expect(bool(torch.all(values[0] == 1)), "the scale should be initialised to ones")


def _gradient_inputs(seed: int, shape: tuple, x_stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An input and a random weighting of the outputs (a plain sum's gradient through a norm is almost zero). The
    input is large enough (x 3) that the value of eps is invisible: gradients are judged here, eps elsewhere (at
    unit scale, eps = 1e-5 instead of 1e-6 failed or passed depending on the draw)."""
    return _randn(shape, seed, x_stream) * 3, _randn(shape, seed, x_stream + 1)


@probe("parameters")
def scale_gets_the_right_gradient(cls, seed: int) -> dict:
    """the scale's gradient equals the reference's, under a random weighting of the outputs"""
    module = with_random_scale(cls, 24, seed, 12)
    param = scale_parameter(module, 24)
    x, weights = _gradient_inputs(seed, (3, 5, 24), 13)
    (module(x) * weights).sum().backward()
    return {"grad": None if param.grad is None else plain(param.grad)}


@scale_gets_the_right_gradient.judge
def _(data: dict, seed: int) -> None:
    expect(data["grad"] is not None,
           "the scale received no gradient: is it used in forward (not a detached copy)?")
    x, weights = _gradient_inputs(seed, (3, 5, 24), 13)
    ref_scale = random_scale(24, seed, 12).double().requires_grad_()
    (reference(x, ref_scale, 1e-6) * weights.double()).sum().backward()
    expect_close(returned(data["grad"], "the scale's gradient"), ref_scale.grad, "the scale's gradient",
                 rtol=1e-4, atol=1e-5)


@probe("parameters")
def input_gets_the_right_gradient(cls, seed: int) -> dict:
    """gradients flow to the input and equal the reference's"""
    module = with_random_scale(cls, 24, seed, 15)
    x, weights = _gradient_inputs(seed, (4, 24), 16)
    x.requires_grad_()
    (module(x) * weights).sum().backward()
    return {"grad": None if x.grad is None else plain(x.grad)}


@input_gets_the_right_gradient.judge
def _(data: dict, seed: int) -> None:
    expect(data["grad"] is not None,
           "no gradient reached the input: is something detached or run under no_grad?")
    x, weights = _gradient_inputs(seed, (4, 24), 16)
    x_ref = x.double().requires_grad_()
    (reference(x_ref, random_scale(24, seed, 15), 1e-6) * weights.double()).sum().backward()
    expect_close(returned(data["grad"], "the input's gradient"), x_ref.grad, "the input's gradient",
                 rtol=1e-4, atol=1e-5)


# --- dtypes ---------------------------------------------------------------------------------------------------

KEPT_DTYPES = (torch.float32, torch.float64)


@probe("dtypes")
def float32_and_float64_kept(cls, seed: int) -> dict:
    """the output has the input's shape and dtype (float32, float64)"""
    outputs = []
    for dtype in KEPT_DTYPES:
        outputs.append(plain(make(cls, 16)(_randn((2, 3, 16), seed, 18).to(dtype))))
    return {"outputs": outputs}


@float32_and_float64_kept.judge
def _(data: dict, seed: int) -> None:
    for dtype, y in zip(KEPT_DTYPES, data["outputs"], strict=True):
        x = _randn((2, 3, 16), seed, 18).to(dtype)
        y = returned(y, f"a {dtype} input")
        expect(y.shape == x.shape, f"output shape {tuple(y.shape)} differs from the input's {tuple(x.shape)}")
        expect(y.dtype == dtype, f"a {dtype} input gave a {y.dtype} output: return the input's dtype")


HALF_DTYPES = ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2))


def _large_input(seed: int, dtype: torch.dtype) -> torch.Tensor:
    # |x| up to ~1000: x**2 overflows float16 (max 65504) unless the statistic is computed in float32
    return (_randn((4, 64), seed, 20) * 400).to(dtype)


@probe("dtypes")
def half_precision_large_values(cls, seed: int) -> dict:
    """float16 and bfloat16 inputs with large values: same dtype out, finite, correct (float16: statistic in float32)"""
    outputs = []
    for dtype, _ in HALF_DTYPES:
        module = with_random_scale(cls, 64, seed, 19)
        outputs.append(plain(module(_large_input(seed, dtype))))
    return {"outputs": outputs}


@half_precision_large_values.judge
def _(data: dict, seed: int) -> None:
    scale = random_scale(64, seed, 19)
    for (dtype, tol), y in zip(HALF_DTYPES, data["outputs"], strict=True):
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


UNCHANGED_DTYPES = (torch.float32, torch.float16)


def _unchanged_input(seed: int, dtype: torch.dtype) -> torch.Tensor:
    return (_randn((3, 16), seed, 22) * 2).to(dtype)


@probe("dtypes")
def input_left_unchanged(cls, seed: int) -> dict:
    """forward does not modify its input (no in-place operations on x)"""
    after = []
    for dtype in UNCHANGED_DTYPES:
        module = with_random_scale(cls, 16, seed, 21)
        x = _unchanged_input(seed, dtype)
        module(x)
        after.append(plain(x))
    return {"inputs_after": after}


@input_left_unchanged.judge
def _(data: dict, seed: int) -> None:
    for dtype, after in zip(UNCHANGED_DTYPES, data["inputs_after"], strict=True):
        before = _unchanged_input(seed, dtype)
        after = returned(after, "the input after forward")
        expect(after.dtype == dtype and torch.equal(after, before), f"forward changed its {dtype} input in place")


# --- what makes it RMSNorm ------------------------------------------------------------------------------------

SCALE_FACTORS = (0.5, 4.0, 300.0)


@probe("properties")
def scale_invariant(cls, seed: int) -> dict:
    """f(c * x) = f(x) for positive c, and f(-x) = -f(x)"""
    module = with_random_scale(cls, 32, seed, 23)
    x = _randn((5, 32), seed, 24)
    return {"y": plain(module(x)), "scaled": [plain(module(c * x)) for c in SCALE_FACTORS],
            "negated": plain(module(-x))}


@scale_invariant.judge
def _(data: dict, seed: int) -> None:
    x = _randn((5, 32), seed, 24)
    y = returned(data["y"], "input of shape (5, 32)")
    follows_inputs(y, x, "input of shape (5, 32)")
    for c, scaled in zip(SCALE_FACTORS, data["scaled"], strict=True):
        expect(torch.allclose(returned(scaled, f"input times {c}"), y, rtol=1e-4, atol=1e-5),
               f"multiplying the input by {c} changed the output: RMSNorm should be invariant to re-scaling")
    expect(torch.allclose(returned(data["negated"], "negated input"), -y, rtol=1e-4, atol=1e-5),
           "f(-x) should equal -f(x)")


@probe("properties")
def no_recentering(cls, seed: int) -> dict:
    """the mean is not subtracted: a shifted input keeps a non-zero mean"""
    return {"y": plain(make(cls, 64)(_randn((8, 64), seed, 25) + 3.0))}


@no_recentering.judge
def _(data: dict, seed: int) -> None:
    x = _randn((8, 64), seed, 25) + 3.0
    y = returned(data["y"], "input of shape (8, 64)")
    # the row means alone do not depend on the order of the features: the deviations from them do
    follows_inputs(y - y.mean(-1, keepdim=True), x - x.mean(-1, keepdim=True), "input of shape (8, 64)")
    expected_mean = reference(x, torch.ones(64), 1e-6).mean(-1)
    expect(bool((y.double().mean(-1) - expected_mean).abs().max() < 1e-3),
           "the output's mean is wrong for an input with a non-zero mean: RMSNorm re-scales, it does not "
           "re-center (no mean is subtracted)")
