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
"""
from __future__ import annotations

import torch
from torch import nn

from ._core import CheckGroups, expect, expect_close

GROUPS = CheckGroups()
check = GROUPS.check

SHAPES = [(4, 16), (2, 5, 32), (3, 2, 7, 24)]  # several ranks and widths: nothing may assume one of them


def reference(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    """y = x / sqrt(mean(x^2) + eps) * scale, computed in float64."""
    x64 = x.double()
    return x64 / torch.sqrt(x64.pow(2).mean(-1, keepdim=True) + eps) * scale.double()


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


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


def with_random_scale(cls, d_model: int, seed: int, **kwargs) -> tuple[nn.Module, torch.Tensor]:
    """A module whose scale is random (a scale of ones hides mistakes in where the scale is applied)."""
    module = make(cls, d_model, **kwargs)
    scale = scale_parameter(module, d_model)
    values = 0.5 + torch.rand(d_model, generator=_generator(seed))
    with torch.no_grad():
        scale.copy_(values.to(scale.dtype))
    return module, values


# --- values -------------------------------------------------------------------------------------------------

@check("values")
def values_match_reference(cls) -> None:
    """float32 outputs equal a float64 reference for several shapes, with a random scale"""
    for i, shape in enumerate(SHAPES):
        module, scale = with_random_scale(cls, shape[-1], seed=i)
        x = torch.randn(shape, generator=_generator(10 + i)) * 3
        expect_close(module(x), reference(x, scale, 1e-6), f"input of shape {shape}", rtol=1e-4, atol=1e-5)


@check("values")
def normalises_each_position_separately(cls) -> None:
    """changing one position (row) leaves every other position's output unchanged"""
    module, _ = with_random_scale(cls, 16, seed=3)
    x = torch.randn(6, 16, generator=_generator(4))
    y = module(x).detach()
    x2 = x.clone()
    x2[2] = torch.randn(16, generator=_generator(5)) * 10
    y2 = module(x2).detach()
    others = [i for i in range(6) if i != 2]
    expect(torch.allclose(y[others], y2[others], rtol=1e-5, atol=1e-6),
           "changing the input at one position changed the output at other positions: the statistic must be "
           "computed over the last dimension only, separately for every position")


@check("values")
def eps_inside_square_root(cls) -> None:
    """inputs with a tiny norm (where the place of eps matters) match the reference"""
    module, scale = with_random_scale(cls, 32, seed=6)
    x = torch.randn(4, 32, generator=_generator(7)) * 1e-3
    expect_close(module(x), reference(x, scale, 1e-6), "input with values around 1e-3",
                 rtol=1e-4, atol=1e-6)


@check("values")
def eps_argument_honoured(cls) -> None:
    """the eps passed to the constructor is the one used"""
    for eps in (1e-2, 1e-4):
        module, scale = with_random_scale(cls, 32, seed=8, eps=eps)
        x = torch.randn(4, 32, generator=_generator(9)) * 0.05
        expect_close(module(x), reference(x, scale, eps), f"RMSNorm(32, eps={eps})", rtol=1e-4, atol=1e-6)


@check("values")
def default_eps_is_1e_6(cls) -> None:
    """RMSNorm(d_model) uses eps = 1e-6"""
    module, scale = with_random_scale(cls, 32, seed=10)
    x = torch.randn(4, 32, generator=_generator(11)) * 3e-3
    expect_close(module(x), reference(x, scale, 1e-6), "RMSNorm(32) on a small input (is the default eps 1e-6?)",
                 rtol=1e-4, atol=1e-6)


# --- parameters and gradients ---------------------------------------------------------------------------------

@check("parameters")
def scale_is_one_parameter_initialised_to_ones(cls) -> None:
    """one learnable scale vector of shape (d_model,), initialised to ones, and no other parameter"""
    for d_model in (8, 20):
        scale = scale_parameter(make(cls, d_model), d_model)
        expect(scale.requires_grad, "the scale must be learnable (requires_grad=True)")
        expect(bool(torch.all(scale.detach() == 1)), "the scale should be initialised to ones")


@check("parameters")
def scale_gets_the_right_gradient(cls) -> None:
    """the scale's gradient equals the reference's, under a random weighting of the outputs"""
    module, scale = with_random_scale(cls, 24, seed=12)
    param = scale_parameter(module, 24)
    x = torch.randn(3, 5, 24, generator=_generator(13))
    weights = torch.randn(3, 5, 24, generator=_generator(14))
    (module(x) * weights).sum().backward()
    expect(param.grad is not None, "the scale received no gradient: is it used in forward (not a detached copy)?")
    ref_scale = scale.double().requires_grad_()
    (reference(x, ref_scale, 1e-6) * weights.double()).sum().backward()
    expect_close(param.grad, ref_scale.grad, "the scale's gradient", rtol=1e-4, atol=1e-5)


@check("parameters")
def input_gets_the_right_gradient(cls) -> None:
    """gradients flow to the input and equal the reference's"""
    module, scale = with_random_scale(cls, 24, seed=15)
    x = torch.randn(4, 24, generator=_generator(16)).requires_grad_()
    weights = torch.randn(4, 24, generator=_generator(17))
    (module(x) * weights).sum().backward()
    expect(x.grad is not None, "no gradient reached the input: is something detached or run under no_grad?")
    x_ref = x.detach().double().requires_grad_()
    (reference(x_ref, scale, 1e-6) * weights.double()).sum().backward()
    expect_close(x.grad, x_ref.grad, "the input's gradient", rtol=1e-4, atol=1e-5)


# --- dtypes ---------------------------------------------------------------------------------------------------

@check("dtypes")
def float32_and_float64_kept(cls) -> None:
    """the output has the input's shape and dtype (float32, float64)"""
    for dtype in (torch.float32, torch.float64):
        module = make(cls, 16)
        x = torch.randn(2, 3, 16, generator=_generator(18)).to(dtype)
        y = module(x)
        expect(isinstance(y, torch.Tensor), f"forward should return a tensor, got {type(y).__name__}")
        expect(y.shape == x.shape, f"output shape {tuple(y.shape)} differs from the input's {tuple(x.shape)}")
        expect(y.dtype == dtype, f"a {dtype} input gave a {y.dtype} output: return the input's dtype")


@check("dtypes")
def half_precision_large_values(cls) -> None:
    """float16 and bfloat16 inputs with large values: same dtype out, finite, correct (float16: statistic in float32)"""
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)):
        module, scale = with_random_scale(cls, 64, seed=19)
        # |x| up to ~1000: x**2 overflows float16 (max 65504) unless the statistic is computed in float32
        x = (torch.randn(4, 64, generator=_generator(20)) * 400).to(dtype)
        y = module(x)
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


@check("dtypes")
def input_left_unchanged(cls) -> None:
    """forward does not modify its input (no in-place operations on x)"""
    for dtype in (torch.float32, torch.float16):
        module, _ = with_random_scale(cls, 16, seed=21)
        x = (torch.randn(3, 16, generator=_generator(22)) * 2).to(dtype)
        before = x.clone()
        module(x)
        expect(torch.equal(x, before), f"forward changed its {dtype} input in place")


# --- what makes it RMSNorm ------------------------------------------------------------------------------------

@check("properties")
def scale_invariant(cls) -> None:
    """f(c * x) = f(x) for positive c, and f(-x) = -f(x)"""
    module, _ = with_random_scale(cls, 32, seed=23)
    x = torch.randn(5, 32, generator=_generator(24))
    y = module(x).detach()
    for c in (0.5, 4.0, 300.0):
        expect(torch.allclose(module(c * x).detach(), y, rtol=1e-4, atol=1e-5),
               f"multiplying the input by {c} changed the output: RMSNorm should be invariant to re-scaling")
    expect(torch.allclose(module(-x).detach(), -y, rtol=1e-4, atol=1e-5), "f(-x) should equal -f(x)")


@check("properties")
def no_recentering(cls) -> None:
    """the mean is not subtracted: a shifted input keeps a non-zero mean"""
    module = make(cls, 64)
    x = torch.randn(8, 64, generator=_generator(25)) + 3.0
    y = module(x).detach().double()
    expected_mean = reference(x, torch.ones(64), 1e-6).mean(-1)
    expect(bool((y.mean(-1) - expected_mean).abs().max() < 1e-3),
           "the output's mean is wrong for an input with a non-zero mean: RMSNorm re-scales, it does not "
           "re-center (no mean is subtracted)")
