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

These are the probes (they run in the student's kernel, see autograder/probing.py): each builds its inputs from the seed
(fixed random numbers, their features in an order drawn from the seed: `features`), calls the student's class and
returns what came out. The judges (lab/judges/rmsnorm.py) rebuild the same inputs and compare with a float64
reference.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.probing import CheckGroups, expect, plain

GROUPS = CheckGroups()
probe = GROUPS.probe

SHAPES = [(4, 16), (2, 5, 32), (3, 2, 7, 24)]  # several ranks and widths: nothing may assume one of them


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


@probe("values")
def eps_inside_square_root(cls, seed: int) -> dict:
    """inputs with a tiny norm (where the place of eps matters) match the reference"""
    module = with_random_scale(cls, 32, seed, 6)
    return {"y": plain(module(_randn((4, 32), seed, 7) * 1e-3))}


EPS_VALUES = (1e-2, 1e-4)


@probe("values")
def eps_argument_honoured(cls, seed: int) -> dict:
    """the eps passed to the constructor is the one used"""
    outputs = []
    for eps in EPS_VALUES:
        module = with_random_scale(cls, 32, seed, 8, eps=eps)
        outputs.append(plain(module(_randn((4, 32), seed, 9) * 0.05)))
    return {"outputs": outputs}


@probe("values")
def default_eps_is_1e_6(cls, seed: int) -> dict:
    """RMSNorm(d_model) uses eps = 1e-6"""
    module = with_random_scale(cls, 32, seed, 10)
    return {"y": plain(module(_randn((4, 32), seed, 11) * 3e-3))}


# --- parameters and gradients ---------------------------------------------------------------------------------

PARAMETER_WIDTHS = (8, 20)


STEP_SIZE = 0.5  # one plain gradient step on every parameter the module lists


def _step_inputs(seed: int, d_model: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _randn((3, d_model), seed, 40 + d_model) * 2, _randn((3, d_model), seed, 60 + d_model)


@probe("parameters")
def scale_is_one_parameter_initialised_to_ones(cls, seed: int) -> dict:
    """one learnable scale vector of shape (d_model,), initialised to ones, and no other parameter"""
    modules = []
    for d_model in PARAMETER_WIDTHS:
        module = make(cls, d_model)
        x, weights = _step_inputs(seed, d_model)
        fresh = plain(module(x))
        params = list(module.parameters())
        # what the module lists as its parameters must be what it computes with: one step on each of them
        (module(x) * weights).sum().backward()
        with torch.no_grad():
            for param in params:
                if param.grad is not None:
                    param -= STEP_SIZE * param.grad
        modules.append({"shapes": [list(p.shape) for p in params], "fresh": fresh, "stepped": plain(module(x))})
    return {"modules": modules}


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


@probe("parameters")
def input_gets_the_right_gradient(cls, seed: int) -> dict:
    """gradients flow to the input and equal the reference's"""
    module = with_random_scale(cls, 24, seed, 15)
    x, weights = _gradient_inputs(seed, (4, 24), 16)
    x.requires_grad_()
    (module(x) * weights).sum().backward()
    return {"grad": None if x.grad is None else plain(x.grad)}


# --- dtypes ---------------------------------------------------------------------------------------------------

KEPT_DTYPES = (torch.float32, torch.float64)


@probe("dtypes")
def float32_and_float64_kept(cls, seed: int) -> dict:
    """the output has the input's shape and dtype (float32, float64)"""
    outputs = []
    for dtype in KEPT_DTYPES:
        outputs.append(plain(make(cls, 16)(_randn((2, 3, 16), seed, 18).to(dtype))))
    return {"outputs": outputs}


HALF_DTYPES = (torch.float16, torch.bfloat16)


def _large_input(seed: int, dtype: torch.dtype) -> torch.Tensor:
    # |x| up to ~1000: x**2 overflows float16 (max 65504) unless the statistic is computed in float32
    return (_randn((4, 64), seed, 20) * 400).to(dtype)


@probe("dtypes")
def half_precision_large_values(cls, seed: int) -> dict:
    """float16 and bfloat16 inputs with large values: same dtype out, finite, correct (float16: statistic in float32)"""
    outputs = []
    for dtype in HALF_DTYPES:
        module = with_random_scale(cls, 64, seed, 19)
        outputs.append(plain(module(_large_input(seed, dtype))))
    return {"outputs": outputs}


UNCHANGED_DTYPES = (torch.float32, torch.float16)


def _unchanged_input(seed: int, dtype: torch.dtype) -> torch.Tensor:
    return (_randn((3, 16), seed, 22) * 2).to(dtype)


@probe("dtypes")
def input_left_unchanged(cls, seed: int) -> dict:
    """forward does not modify its input (no in-place operations on x)"""
    after, outputs = [], []
    for dtype in UNCHANGED_DTYPES:
        module = with_random_scale(cls, 16, seed, 21)
        x = _unchanged_input(seed, dtype)
        outputs.append(plain(module(x)))
        after.append(plain(x))
    return {"inputs_after": after, "outputs": outputs}


# --- what makes it RMSNorm ------------------------------------------------------------------------------------

SCALE_FACTORS = (0.5, 4.0, 300.0)


@probe("properties")
def scale_invariant(cls, seed: int) -> dict:
    """f(c * x) = f(x) for positive c, and f(-x) = -f(x)"""
    module = with_random_scale(cls, 32, seed, 23)
    x = _randn((5, 32), seed, 24)
    return {"y": plain(module(x)), "scaled": [plain(module(c * x)) for c in SCALE_FACTORS],
            "negated": plain(module(-x))}


@probe("properties")
def no_recentering(cls, seed: int) -> dict:
    """the mean is not subtracted: a shifted input keeps a non-zero mean"""
    return {"y": plain(make(cls, 64)(_randn((8, 64), seed, 25) + 3.0))}


