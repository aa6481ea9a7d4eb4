"""The block probes' machinery (exercise 1b, used by decoder.py): the random weights a probe gives the student's
block and how it reports them, the inputs and masks. The judges' side (the reference block rebuilt from the report,
the float64 references) is lab/judges/_block.py.

Every probe gives the block's Linear and LayerNorm layers random weights drawn from the seed (`randomize`), calls
it on inputs drawn from the seed and reports what it saw (`report`: which modules the block has, in order, and
their parameters) with the outputs. The judge redraws the weights from the reported layout and requires the
reported parameters to be exactly those (so that no output can have been computed with other weights), builds its
own reference block from them (`reference_block`), rebuilds the inputs and compares.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from autograder.probing import expect, plain


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=_generator(seed)) * scale


def _causal(T: int) -> torch.Tensor:
    """The checks' own causal mask (True = may attend), independent of the student's helper."""
    return torch.ones(T, T, dtype=torch.bool).tril()


def _padding(lengths: list[int], max_len: int) -> torch.Tensor:
    """The checks' own padding mask, shape (batch, 1, 1, max_len), True at real tokens."""
    return (torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]


ROLES = ("self_attn", "cross_attn", "ffn", "norm1", "norm2", "norm3", "dropout")


ATTENTION_WEIGHTS = ("W_q", "W_k", "W_v", "W_o")


MAX_LAYOUT_NUMEL = 2_000_000  # what the judge draws for a reported layout: the checks' blocks have < 100k


def _stream(seed: int, stream: int) -> int:
    """The generator seed of one of a check's draws (weights, inputs, dropout masks): the stream itself for seed 0
    (the unit tests' and `nbgrader validate`'s: the numbers the checks were written with), mixed with the grading
    seed otherwise, so that data recorded in another grading run is for other weights and inputs."""
    return stream if seed == 0 else (seed * 1_000_003 + stream) % 2**63


def make_block(cls, d_model: int, num_heads: int, **kwargs) -> nn.Module:
    block = cls(d_model, num_heads, **kwargs)
    expect(isinstance(block, nn.Module), "TransformerDecoderBlock must be an nn.Module (subclass torch.nn.Module)")
    for name in ROLES:
        expect(hasattr(block, name), f"the block has no attribute `{name}` (the API names self_attn, cross_attn, "
                                     f"ffn, norm1, norm2, norm3 and dropout)")
    for name in ("self_attn", "cross_attn"):
        attn = getattr(block, name)
        for weight in ATTENTION_WEIGHTS:
            expect(isinstance(getattr(attn, weight, None), nn.Linear),
                   f"`{name}` should be the provided MultiHeadAttention (with W_q, W_k, W_v, W_o); found "
                   f"{type(attn).__name__}")
    for name in ("norm1", "norm2", "norm3"):
        expect(isinstance(getattr(block, name), nn.LayerNorm), f"`{name}` should be an nn.LayerNorm")
    expect(len(ffn_linears(block)) == 2, "`ffn` should contain exactly two nn.Linear layers")
    return block


def ffn_linears(block: nn.Module) -> list[nn.Module]:
    return [m for m in block.ffn.modules() if isinstance(m, nn.Linear)]


def layout(block: nn.Module) -> list[list]:
    """The block's Linear and LayerNorm layers in module order: [qualified name, kind, weight shape, has a bias].
    A module shared by two attributes appears once, under its first name."""
    rows = []
    for name, module in block.named_modules():
        for kind, cls in (("LayerNorm", nn.LayerNorm), ("Linear", nn.Linear)):
            if isinstance(module, cls) and module.weight is not None:
                rows.append([name, kind, list(module.weight.shape), module.bias is not None])
                break
    return rows


def draws(rows: list, seed: int) -> dict[str, torch.Tensor]:
    """The random weights for a layout, by parameter name: LayerNorm's ones and zeros and zero biases hide
    ordering mistakes. The probe sets them (`randomize`); the judge redraws them from the reported layout."""
    expect(isinstance(rows, list) and all(isinstance(row[2], list) and 1 <= len(row[2]) <= 2
                                          and all(isinstance(n, int) and n > 0 for n in row[2]) for row in rows)
           and sum(math.prod(row[2]) for row in rows) <= MAX_LAYOUT_NUMEL,
           "the reported module layout is not what the grader expects (shapes, or too large): the data was forged")
    g = _generator(seed)
    values = {}
    for name, kind, shape, has_bias in rows:
        prefix = f"{name}." if name else ""
        if kind == "LayerNorm":
            values[prefix + "weight"] = 1 + 0.5 * torch.randn(shape, generator=g)
            if has_bias:
                values[prefix + "bias"] = 0.5 * torch.randn(shape, generator=g)
        elif kind == "Linear":
            values[prefix + "weight"] = torch.randn(shape, generator=g) / math.sqrt(shape[1])
            if has_bias:
                values[prefix + "bias"] = 0.3 * torch.randn(shape[:1], generator=g)
    return values


def randomize(block: nn.Module, seed: int) -> nn.Module:
    """Give every Linear and LayerNorm layer of the block the random weights `draws` prescribes for `seed`."""
    values = draws(layout(block), seed)
    with torch.no_grad():
        for name, param in block.named_parameters():
            if name in values:
                param.copy_(values[name])
    return block


def roles(block: nn.Module) -> dict[str, str | None]:
    """Under which qualified name each attribute the API names is registered (None: not a registered submodule;
    two attributes holding one module get the same name)."""
    names: dict[int, str] = {}
    for name, module in block.named_modules():
        names.setdefault(id(module), name)
    return {attr: names.get(id(getattr(block, attr, None))) for attr in ROLES}


def report(block: nn.Module) -> dict:
    """What the judge needs to rebuild the block: its layout, its attributes' names and the parameters of its
    layout's layers, flattened into one tensor in layout order (weight, then bias; one tensor keeps the probe
    line small and quick to read)."""
    rows = layout(block)
    params = dict(block.named_parameters())
    names = [f"{row[0]}.{p}" if row[0] else p for row in rows for p in ("weight", "bias")[:1 + bool(row[3])]]
    weights = [params[name].detach().flatten() for name in names if name in params]
    return {"layout": rows, "roles": roles(block),
            "weights": plain(torch.cat(weights)) if weights else plain(torch.zeros(0))}


def our_masks(T: int, S: int, causal: bool, tgt_lengths=None, src_lengths=None):
    self_mask = _causal(T) if causal else None
    if tgt_lengths is not None:
        pad = _padding(tgt_lengths, T)
        self_mask = pad if self_mask is None else self_mask & pad  # (batch, 1, T, T) when causal
    cross_mask = None if src_lengths is None else _padding(src_lengths, S)
    return self_mask, cross_mask


def call(block: nn.Module, inputs: tuple) -> dict:
    """The block's output for `inputs`, and x and encoder_output after the call (the judge requires them
    unchanged: a block that changes its input in place has changed what the caller computes with next)."""
    x, enc = inputs[0].clone(), inputs[1].clone()
    y = block(x, enc, *inputs[2:])
    return {"y": plain(y), "after": [plain(x), plain(enc)]}


