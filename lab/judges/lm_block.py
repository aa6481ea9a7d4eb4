"""Judges of exercise 4a's probes (lab/checks/lm_block.py): each redraws the weights and inputs the probe
used and computes the block's outputs (and gradients) in float64 with its own forward, the one reference of the
block, then compares. Data recorded for another seed is for other weights and inputs; made-up data does not match."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lab.checks import lm_block as probes
from lab.checks.lm_block import (DROPOUT_P, DROPOUT_STREAM, GRADIENT_PARAMETERS, MASK_LENGTHS, SIZES, causal,
                                        dropout_seed, gradient_inputs, inputs, norm_input, padded_causal, weights)

from autograder.judging import CheckFailed, Judges, expect, expect_close, returned

JUDGES = Judges(probes.GROUPS)
RTOL, ATOL = 1e-4, 1e-5  # float32 student code against a float64 reference


def _rms(x, scale):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * scale


def _lin(w, name, x):
    return F.linear(x, w[f"{name}.weight"], w[f"{name}.bias"])


def reference(w: dict, x: torch.Tensor, mask, num_heads: int, dropout_masks=None) -> torch.Tensor:
    """x + dropout(self_attn(norm1(x), mask)), then x + dropout(ffn(norm2(x))), in float64. dropout_masks: the
    four masks (already divided by 1 - p) for the attention weights, the attention sublayer, the ffn's hidden
    layer and the ffn sublayer, in the order a forward draws them."""
    masks = dropout_masks or [1.0] * 4
    B, T, D = x.shape
    dk = D // num_heads
    h = _rms(x, w["norm1"])

    def heads(t):
        return t.view(B, T, num_heads, dk).transpose(1, 2)

    q, k, v = (heads(_lin(w, name, h)) for name in ("W_q", "W_k", "W_v"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(dk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    attention = torch.softmax(scores, -1) * masks[0]
    out = (attention @ v).transpose(1, 2).reshape(B, T, D)
    x = x + _lin(w, "W_o", out) * masks[1]
    hidden = F.gelu(_lin(w, "ffn1", _rms(x, w["norm2"]))) * masks[2]
    return x + _lin(w, "ffn2", hidden) * masks[3]


def drawn_weights(seed: int, stream: int, d_model: int, d_ff: int, grad: bool = False) -> dict:
    return {k: v.double().requires_grad_(grad) for k, v in weights(seed, stream, d_model, d_ff).items()}


def output(result, x: torch.Tensor, what: str) -> torch.Tensor:
    after = result["x_after"]
    expect(isinstance(after, torch.Tensor) and after.dtype == x.dtype and torch.equal(after, x),
           "forward changed its argument `x` in place (e.g. `x += ...`): write `x = x + ...` instead")
    return returned(result["y"], what, tuple(x.shape))


HINT = (" (pre-norm: x + dropout(self_attn(norm1(x), mask)), then x + dropout(ffn(norm2(x))); the mask passed to "
        "self_attn as given)")


@JUDGES.judge(probes.matches_reference_with_causal_mask)
def _(data: dict, seed: int) -> None:
    for result, size in zip(data["calls"], SIZES, strict=True):
        d_model, heads, d_ff, batch, T, stream, _ = size
        x = inputs(seed, size)
        what = f"DecoderOnlyBlock({d_model}, {heads}, {d_ff}) with a causal mask, input {tuple(x.shape)}"
        expected = reference(drawn_weights(seed, stream, d_model, d_ff), x.double(), causal(T), heads)
        expect_close(output(result, x, what), expected, what + HINT, rtol=RTOL, atol=ATOL)


@JUDGES.judge(probes.uses_exactly_the_mask_given)
def _(data: dict, seed: int) -> None:
    size = SIZES[0]
    d_model, heads, d_ff, _, T, stream, _ = size
    x, w = inputs(seed, size), drawn_weights(seed, stream, d_model, d_ff)
    y_none = output(data["none"], x, "mask=None")
    y_padded = output(data["padded"], x, "a (batch, 1, T, T) mask")
    expect_close(y_none, reference(w, x.double(), None, heads),
                 "mask=None (no mask: every position may attend to every other; does the block build a mask of "
                 "its own?)", rtol=RTOL, atol=ATOL)
    expect_close(y_padded, reference(w, x.double(), padded_causal(MASK_LENGTHS, T), heads),
                 "a per-sequence mask of shape (batch, 1, T, T) (is the mask passed to self_attn as given?)",
                 rtol=RTOL, atol=ATOL)


@JUDGES.judge(probes.norms_rescale_without_recentring)
def _(data: dict, seed: int) -> None:
    x = norm_input(seed).double()
    expected = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)  # a new RMSNorm: its scale is ones
    for name, y in zip(("norm1", "norm2"), data["outputs"], strict=True):
        y = returned(y, f"`{name}` of a new block", tuple(x.shape))
        # loose: a small mistake of exercise 3a (its eps, its dtype) is not this exercise's; LayerNorm is off by ~1
        expect_close(y, expected, f"`{name}` of a new block, on rows whose mean is far from zero (should be the "
                     "RMSNorm of the cell above: a LayerNorm subtracts the mean)", rtol=0.05, atol=0.05)


@JUDGES.judge(probes.gradients_match_reference)
def _(data: dict, seed: int) -> None:
    d_model, heads, d_ff, _, T, stream, _ = SIZES[0]
    w = drawn_weights(seed, stream, d_model, d_ff, grad=True)
    x, weighting = gradient_inputs(seed)
    x64 = x.double().requires_grad_()
    (reference(w, x64, causal(T), heads) * weighting.double()).sum().backward()
    expect(data["x"] is not None, "no gradient reached the input x: is something detached or run under no_grad?")
    expect_close(returned(data["x"], "the gradient of x"), x64.grad, "the gradient of x" + HINT,
                 rtol=RTOL, atol=ATOL)
    for name, grad in zip(GRADIENT_PARAMETERS, data["parameters"], strict=True):
        key = {"norm1.weight": "norm1", "norm2.weight": "norm2"}.get(name, name.removeprefix("self_attn."))
        shown = name.replace("ffn1", "the ffn's first Linear").replace("ffn2", "the ffn's second Linear")
        expect(grad is not None, f"{shown} received no gradient: is it used in forward?")
        expect_close(returned(grad, f"the gradient of {shown}"), w[key].grad, f"the gradient of {shown}",
                     rtol=RTOL, atol=ATOL)


def dropout_masks(seed: int, d_model: int, heads: int, d_ff: int, batch: int, T: int, p: float) -> list:
    """The four dropout masks a forward that follows the API draws, in its order, from the probe's generator."""
    shapes = [(batch, heads, T, T), (batch, T, d_model), (batch, T, d_ff), (batch, T, d_model)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(dropout_seed(seed))
        return [F.dropout(torch.ones(shape), p, True).double() for shape in shapes]


@JUDGES.judge(probes.dropout_where_the_api_says)
def _(data: dict, seed: int) -> None:
    size = SIZES[0]
    d_model, heads, d_ff, batch, T, _, _ = size
    x = inputs(seed, size)
    y = output(data, x, "training mode, dropout 0.3")
    w = drawn_weights(seed, DROPOUT_STREAM, d_model, d_ff)
    masks = dropout_masks(seed, d_model, heads, d_ff, batch, T, DROPOUT_P)
    expected = reference(w, x.double(), causal(T), heads, masks)
    if torch.allclose(y.double(), reference(w, x.double(), causal(T), heads), rtol=RTOL, atol=ATOL):
        raise CheckFailed("in training mode with dropout 0.3 the outputs are those without dropout: is the block's "
                          "dropout (and the one passed to self_attn and ffn) used?")
    expect_close(y, expected, "training mode, dropout 0.3 (dropout on the attention weights, inside the ffn and on "
                 "each sublayer's output before it is added, nowhere else)", rtol=RTOL, atol=ATOL)


@JUDGES.judge(probes.no_dropout_in_eval_mode)
def _(data: dict, seed: int) -> None:
    size = SIZES[0]
    d_model, heads, d_ff, _, T, _, _ = size
    x = inputs(seed, size)
    expected = reference(drawn_weights(seed, DROPOUT_STREAM, d_model, d_ff), x.double(), causal(T), heads)
    expect_close(output(data, x, "eval mode, dropout 0.5"), expected,
                 "eval mode, built with dropout 0.5 (dropout must be off in eval mode: use nn.Dropout modules)",
                 rtol=RTOL, atol=ATOL)
