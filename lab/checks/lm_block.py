"""Hidden checks for exercise 4a, the decoder-only block `DecoderOnlyBlock`: the probes (their judges:
lab/judges/lm_block.py).

What the notebook states, and so all these checks rely on: `DecoderOnlyBlock(d_model, num_heads, d_ff,
dropout=0.0)` is an nn.Module with `norm1` and `norm2` (two separate `RMSNorm(d_model)`, the notebook's RMSNorm:
the student's own of exercise 3a, or nn.RMSNorm standing in), `self_attn` (the provided
`SelfAttention(d_model, num_heads, dropout)`, with W_q, W_k, W_v, W_o), `ffn` (nn.Sequential Linear(d_model, d_ff)
-> GELU (exact) -> Dropout(dropout) -> Linear(d_ff, d_model)) and `dropout` (nn.Dropout(dropout)).
`forward(x, mask=None)` computes, pre-norm,
    x = x + dropout(self_attn(norm1(x), mask))
    x = x + dropout(ffn(norm2(x)))
uses exactly the mask it is given (True = may attend; None = no mask), returns x's shape, leaves x unchanged.

Graded alone: a probe swaps the block's `norm1` and `norm2` for PyTorch's nn.RMSNorm(d_model, eps=1e-6) (so that a
mistake of exercise 3a costs nothing here), gives every Linear and norm random weights drawn from the seed, calls
the block on inputs drawn from the seed and reports the outputs (and gradients). The one check of the student's
own norms (`norms_rescale_without_recentring`) asks only that they are an RMSNorm, not a LayerNorm: it is loose
enough that a small mistake of 3a (eps, dtype) still passes. Nothing here is a forward of the block: the only one
is the judges'.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.probing import CheckGroups, expect, plain

GROUPS = CheckGroups()
probe = GROUPS.probe

ROLES = ("norm1", "self_attn", "norm2", "ffn", "dropout")
ATTENTION = ("W_q", "W_k", "W_v", "W_o")


def _mix(seed: int, stream: int) -> int:
    """A generator seed for one draw of one grading seed (seed 0, the unit tests': the stream itself)."""
    return stream if seed == 0 else (seed * 1_000_003 + stream) % 2**63


def _randn(shape, seed: int, stream: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(_mix(seed, stream))) * scale


def weights(seed: int, stream: int, d_model: int, d_ff: int) -> dict[str, torch.Tensor]:
    """The random weights a probe gives the block, by the API's names (RMSNorm scales of ones and zero biases hide
    ordering mistakes). The judge draws the same."""
    g = torch.Generator().manual_seed(_mix(seed, stream))
    w = {"norm1": 0.5 + torch.rand(d_model, generator=g), "norm2": 0.5 + torch.rand(d_model, generator=g)}
    for name in ATTENTION:
        w[f"{name}.weight"] = torch.randn(d_model, d_model, generator=g) / d_model ** 0.5
        w[f"{name}.bias"] = 0.3 * torch.randn(d_model, generator=g)
    w["ffn1.weight"] = torch.randn(d_ff, d_model, generator=g) / d_model ** 0.5
    w["ffn1.bias"] = 0.3 * torch.randn(d_ff, generator=g)
    w["ffn2.weight"] = torch.randn(d_model, d_ff, generator=g) / d_ff ** 0.5
    w["ffn2.bias"] = 0.3 * torch.randn(d_model, generator=g)
    return w


def ffn_linears(block: nn.Module) -> list[nn.Module]:
    return [m for m in block.ffn.modules() if isinstance(m, nn.Linear)]


def make_block(cls, d_model: int, num_heads: int, d_ff: int, dropout: float, seed: int, stream: int) -> nn.Module:
    """The student's block, its parts checked against the API, its norms swapped for nn.RMSNorm and every weight
    set to the seed's draw."""
    block = cls(d_model, num_heads, d_ff, dropout)
    expect(isinstance(block, nn.Module), "DecoderOnlyBlock must be an nn.Module (subclass torch.nn.Module)")
    for name in ROLES:
        expect(isinstance(getattr(block, name, None), nn.Module),
               f"the block has no submodule `{name}` (the API names norm1, self_attn, norm2, ffn and dropout)")
    expect(block.norm1 is not block.norm2, "`norm1` and `norm2` should be two separate norms")
    for name in ATTENTION:
        layer = getattr(block.self_attn, name, None)
        expect(isinstance(layer, nn.Linear) and tuple(layer.weight.shape) == (d_model, d_model)
               and layer.bias is not None,
               f"`self_attn` should be the provided SelfAttention(d_model, num_heads, dropout) (with W_q, W_k, W_v, "
               f"W_o); found {type(block.self_attn).__name__}")
    linears = ffn_linears(block)
    expect(len(linears) == 2 and tuple(linears[0].weight.shape) == (d_ff, d_model)
           and tuple(linears[1].weight.shape) == (d_model, d_ff)
           and linears[0].bias is not None and linears[1].bias is not None,
           f"`ffn` should hold two nn.Linear layers (with biases) mapping {d_model} -> d_ff = {d_ff} -> {d_model}")
    block.norm1 = nn.RMSNorm(d_model, eps=1e-6)
    block.norm2 = nn.RMSNorm(d_model, eps=1e-6)
    w = weights(seed, stream, d_model, d_ff)
    with torch.no_grad():
        block.norm1.weight.copy_(w["norm1"])
        block.norm2.weight.copy_(w["norm2"])
        for name in ATTENTION:
            getattr(block.self_attn, name).weight.copy_(w[f"{name}.weight"])
            getattr(block.self_attn, name).bias.copy_(w[f"{name}.bias"])
        for i, layer in enumerate(linears, 1):
            layer.weight.copy_(w[f"ffn{i}.weight"])
            layer.bias.copy_(w[f"ffn{i}.bias"])
    return block


def call(block: nn.Module, x: torch.Tensor, mask) -> dict:
    """The block's output, and x after the call (the judge requires it unchanged)."""
    given = x.clone()
    y = block(given, mask)
    return {"y": plain(y), "x_after": plain(given)}


def causal(T: int) -> torch.Tensor:
    return torch.ones(T, T, dtype=torch.bool).tril()


def padded_causal(lengths: list[int], T: int) -> torch.Tensor:
    """(batch, 1, T, T): causal, and no key beyond a sequence's length."""
    keys = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    return causal(T) & keys[:, None, None, :]


# --- values -------------------------------------------------------------------------------------------------

SIZES = [  # (d_model, num_heads, d_ff, batch, T, weight stream, input stream)
    (16, 2, 32, 2, 5, 1, 2),
    (24, 4, 40, 1, 7, 3, 4),
]


def inputs(seed: int, size: tuple) -> torch.Tensor:
    d_model, _, _, batch, T, _, stream = size
    return _randn((batch, T, d_model), seed, stream, 1.5)


@probe("values")
def matches_reference_with_causal_mask(cls, seed: int) -> dict:
    """with given weights and a causal mask, the outputs equal the reference block's (two sizes), x unchanged"""
    calls = []
    for size in SIZES:
        d_model, heads, d_ff, _, T, stream, _ = size
        block = make_block(cls, d_model, heads, d_ff, 0.0, seed, stream).eval()
        calls.append(call(block, inputs(seed, size), causal(T)))
    return {"calls": calls}


MASK_LENGTHS = [5, 3]


@probe("values")
def uses_exactly_the_mask_given(cls, seed: int) -> dict:
    """no mask (None) means every position attends to every other; a per-sequence (batch, 1, T, T) mask is used"""
    size = SIZES[0]
    d_model, heads, d_ff, _, T, stream, _ = size
    block = make_block(cls, d_model, heads, d_ff, 0.0, seed, stream).eval()
    x = inputs(seed, size)
    return {"none": call(block, x, None), "padded": call(block, x, padded_causal(MASK_LENGTHS, T))}


NORM_INPUT = (3, 16)


def norm_input(seed: int) -> torch.Tensor:
    return _randn(NORM_INPUT, seed, 5) + 3.0  # rows with a mean far from zero: LayerNorm would remove it


@probe("values")
def norms_rescale_without_recentring(cls, seed: int) -> dict:
    """norm1 and norm2 are the notebook's RMSNorm: they re-scale each position, they do not subtract its mean"""
    block = cls(16, 2, 32, 0.0)
    expect(isinstance(block, nn.Module), "DecoderOnlyBlock must be an nn.Module (subclass torch.nn.Module)")
    x = norm_input(seed)
    out = []
    for name in ("norm1", "norm2"):
        norm = getattr(block, name, None)
        expect(isinstance(norm, nn.Module), f"the block has no submodule `{name}`")
        out.append(plain(norm(x.clone())))
    return {"outputs": out}


# --- training: gradients, dropout ---------------------------------------------------------------------------

GRADIENT_PARAMETERS = ("norm1.weight", "self_attn.W_q.weight", "self_attn.W_v.bias", "self_attn.W_o.weight",
                       "norm2.weight", "ffn1.weight", "ffn2.bias")


def gradient_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return inputs(seed, SIZES[0]), _randn((2, 5, 16), seed, 6)


def _parameter(block: nn.Module, name: str) -> nn.Parameter:
    linears = ffn_linears(block)
    owners = {"norm1": block.norm1, "norm2": block.norm2, "ffn1": linears[0], "ffn2": linears[1]}
    path = name.split(".")
    module = owners.get(path[0])
    if module is None:
        module = getattr(block.self_attn, path[1])
    return getattr(module, path[-1])


@probe("training")
def gradients_match_reference(cls, seed: int) -> dict:
    """gradients reach the input and the parameters, equal to the reference's under a random weighting of the outputs"""
    d_model, heads, d_ff, _, T, stream, _ = SIZES[0]
    block = make_block(cls, d_model, heads, d_ff, 0.0, seed, stream).train()
    x, weighting = gradient_inputs(seed)
    x.requires_grad_()
    (block(x, causal(T)) * weighting).sum().backward()
    grads = [_parameter(block, name).grad for name in GRADIENT_PARAMETERS]
    return {"x": None if x.grad is None else plain(x.grad),
            "parameters": [None if g is None else plain(g) for g in grads]}


DROPOUT_P, DROPOUT_STREAM = 0.3, 7


def dropout_seed(seed: int) -> int:
    return _mix(seed, 8)


@probe("training")
def dropout_where_the_api_says(cls, seed: int) -> dict:
    """in training mode, dropout acts on the attention weights, after each sublayer and inside the ffn, in that order"""
    d_model, heads, d_ff, _, T, _, _ = SIZES[0]
    block = make_block(cls, d_model, heads, d_ff, DROPOUT_P, seed, DROPOUT_STREAM).train()
    x = inputs(seed, SIZES[0])
    torch.manual_seed(dropout_seed(seed))  # the caller's generator is put back afterwards (isolated_state)
    return call(block, x, causal(T))


@probe("training")
def no_dropout_in_eval_mode(cls, seed: int) -> dict:
    """in eval mode a block built with dropout 0.5 gives the reference's outputs (dropout off)"""
    d_model, heads, d_ff, _, T, _, _ = SIZES[0]
    block = make_block(cls, d_model, heads, d_ff, 0.5, seed, DROPOUT_STREAM).eval()
    torch.manual_seed(dropout_seed(seed))
    return call(block, inputs(seed, SIZES[0]), causal(T))
