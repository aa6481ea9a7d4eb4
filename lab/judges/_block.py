"""The block judges' machinery (exercise 1b, used by lab/judges/decoder.py): the judge's reference block
rebuilt from a probe's report (lab/checks/_block.py: `report`), the float64 references
(nn.TransformerDecoderLayer, and `block_reference` with dropout drawn in forward order).

The judge redraws the weights from the reported layout and requires the reported parameters to be exactly those
(so that no output can have been computed with other weights), builds its own reference block from them
(`reference_block`), rebuilds the inputs and compares.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lab.checks._block import ATTENTION_WEIGHTS, _causal, _padding, draws

from autograder.judging import CheckFailed, expect


def ffn_linears(block: nn.Module) -> list[nn.Module]:
    """The reference block's two FFN layers."""
    return [m for m in block.ffn.modules() if isinstance(m, Affine)]


RTOL, ATOL = 1e-4, 1e-5  # float32 student code against a float64 reference


def prescribed_weights(data: dict, seed: int) -> dict[str, torch.Tensor]:
    """The reported parameters by name, after checking that they hold exactly the values drawn for `seed` (so no
    output can have been computed with other weights)."""
    expected = draws(data["layout"], seed)
    reported = data["weights"]
    flat = torch.cat([value.flatten() for value in expected.values()]) if expected else torch.zeros(0)
    expect(isinstance(reported, torch.Tensor) and reported.shape == flat.shape
           and torch.equal(reported.to(flat.dtype), flat),
           "the reported parameters do not hold the weights the hidden test gave the block: the data was changed "
           "or forged")
    return expected


def _role(data: dict, attr: str) -> str:
    name = data["roles"][attr]
    expect(isinstance(name, str) and name, f"`{attr}` is not a submodule registered on the block: assign the module "
                                           f"to self.{attr} in __init__")
    return name


class Affine(nn.Module):
    """y = x W^T + b with given tensors: the reference's nn.Linear, without nn.Linear's initialisation (the judge
    builds tens of them per notebook)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = None if bias is None else nn.Parameter(bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


def _linear(weights: dict, name: str, d_in: int, d_out: int, what: str, strict: bool = True) -> Affine:
    """An nn.Linear(d_in, d_out) with the weights reported under `name`; a missing bias is refused when strict,
    and kept missing otherwise (a check of something else then sees the block as it is)."""
    weight, bias = weights.get(f"{name}.weight"), weights.get(f"{name}.bias")
    expect(weight is not None and tuple(weight.shape) == (d_out, d_in), f"{what} should map {d_in} -> {d_out}")
    expect(bias is not None or not strict, f"{what} should have a bias")
    return Affine(weight, bias)


def _norm(weights: dict, name: str, d_model: int, what: str) -> nn.LayerNorm:
    weight, bias = weights.get(f"{name}.weight"), weights.get(f"{name}.bias")
    expect(weight is not None and tuple(weight.shape) == (d_model,),
           f"`{what}` should be an nn.LayerNorm over d_model = {d_model}")
    expect(bias is not None, f"`{what}` should have a bias (nn.LayerNorm's default)")
    norm = nn.LayerNorm(d_model)  # PyTorch's default eps, as the API states
    with torch.no_grad():
        norm.weight.copy_(weight)
        norm.bias.copy_(bias)
    return norm


def reference_block(data: dict, seed: int, d_model: int, d_ff: int | None = None) -> nn.Module:
    """A module with the block's attributes (self_attn.W_q.., ffn, norm1..) holding the reported weights, once
    they are checked to be the ones drawn for `seed`: what torch_layer and block_reference compute with. Its
    `names` map its parameter names to the student's.

    With d_ff, the FFN must be Linear(d_model, d_ff) -> Linear(d_ff, d_model) with biases (what the torch layer
    needs); without, it is taken as reported, so that the masking and training checks judge what they are about
    and leave the FFN's sizes to the api and values checks, as before the checks were judged. Likewise a module
    shared by two attributes is used for both (attributes_as_stated and parameter_count fail it)."""
    weights = prescribed_weights(data, seed)
    names = {attr: _role(data, attr) for attr in ("self_attn", "cross_attn", "ffn", "norm1", "norm2", "norm3")}
    ref = nn.Module()
    ref.names = {}
    for attr in ("self_attn", "cross_attn"):
        attention = nn.Module()
        for w in ATTENTION_WEIGHTS:
            setattr(attention, w, _linear(weights, f"{names[attr]}.{w}", d_model, d_model, f"`{attr}.{w}`"))
            ref.names.update({f"{attr}.{w}.{p}": f"{names[attr]}.{w}.{p}" for p in ("weight", "bias")})
        setattr(ref, attr, attention)
    ffn = [row for row in data["layout"] if row[1] == "Linear" and row[0].startswith(names["ffn"] + ".")]
    expect(len(ffn) == 2, "`ffn` should contain exactly two nn.Linear layers")
    strict = d_ff is not None
    hidden = d_ff if strict else int(ffn[0][2][0])
    what = f"the ffn's Linear layers (they should map {d_model} -> {hidden} -> {d_model})"
    ref.ffn = nn.Sequential(_linear(weights, ffn[0][0], d_model, hidden, what, strict),
                            _linear(weights, ffn[1][0], hidden, d_model, what, strict))
    ref.names.update({f"ffn.{i}.{p}": f"{row[0]}.{p}" for i, row in enumerate(ffn) for p in ("weight", "bias")})
    for attr in ("norm1", "norm2", "norm3"):
        setattr(ref, attr, _norm(weights, names[attr], d_model, attr))
        ref.names.update({f"{attr}.{p}": f"{names[attr]}.{p}" for p in ("weight", "bias")})
    return ref


def torch_layer(block: nn.Module, d_model: int, num_heads: int, d_ff: int) -> nn.TransformerDecoderLayer:
    """nn.TransformerDecoderLayer with the reference block's weights copied across, in float64, eval mode."""
    # skip_init: every parameter is overwritten below (the default initialisation took most of the judge's time)
    layer = nn.utils.skip_init(nn.TransformerDecoderLayer, d_model, num_heads, d_ff, dropout=0.0,
                               activation="gelu", batch_first=True, norm_first=True)
    with torch.no_grad():
        for ours, theirs in ((block.self_attn, layer.self_attn), (block.cross_attn, layer.multihead_attn)):
            theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
            theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
            theirs.out_proj.weight.copy_(ours.W_o.weight)
            theirs.out_proj.bias.copy_(ours.W_o.bias)
        lin1, lin2 = ffn_linears(block)
        layer.linear1.load_state_dict(lin1.state_dict())
        layer.linear2.load_state_dict(lin2.state_dict())
        for ours, theirs in ((block.norm1, layer.norm1), (block.norm2, layer.norm2), (block.norm3, layer.norm3)):
            theirs.load_state_dict(ours.state_dict())
    return layer.double().eval()


def torch_output(layer, x, enc, causal: bool, tgt_lengths=None, src_lengths=None) -> torch.Tensor:
    """The torch layer's output; its masks say True = blocked, the opposite of ours."""
    T, S = x.shape[1], enc.shape[1]
    kwargs = {}
    if causal:
        kwargs["tgt_mask"] = ~_causal(T)
    if tgt_lengths is not None:
        kwargs["tgt_key_padding_mask"] = ~_padding(tgt_lengths, T)[:, 0, 0, :]
    if src_lengths is not None:
        kwargs["memory_key_padding_mask"] = ~_padding(src_lengths, S)[:, 0, 0, :]
    with torch.no_grad():
        return layer(x.double(), enc.double(), **kwargs)


def returned(value: object, what: str, shape: tuple | None = None) -> torch.Tensor:
    """A tensor the student's forward returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"forward should return a tensor, got {name}")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), f"{what}: output shape {tuple(value.shape)}, expected x's "
                                                   f"{tuple(shape)}")
    return value


def output(result: object, inputs: tuple, what: str) -> torch.Tensor:
    """The output a `call` reported, once its inputs are checked to be unchanged."""
    for name, now, then in zip(("x", "encoder_output"), result["after"], inputs[:2], strict=True):
        expect(isinstance(now, torch.Tensor) and now.dtype == then.dtype and torch.equal(now, then),
               f"forward changed its argument `{name}` in place (e.g. `x += ...`): write `x = x + ...` instead")
    return returned(result["y"], what, inputs[0].shape)


def _mha_reference(attn, query, kv, mask, num_heads: int, p: float, training: bool) -> torch.Tensor:
    """The provided MultiHeadAttention's computation, with its dropout drawn in the same order."""
    B, Tq, D = query.shape
    Tk, dk = kv.shape[1], D // num_heads

    def heads(t, L):
        return t.view(B, L, num_heads, dk).transpose(1, 2)

    q = heads(F.linear(query, attn.W_q.weight, attn.W_q.bias), Tq)
    k = heads(F.linear(kv, attn.W_k.weight, attn.W_k.bias), Tk)
    v = heads(F.linear(kv, attn.W_v.weight, attn.W_v.bias), Tk)
    scores = q @ k.transpose(-2, -1) / math.sqrt(dk)
    if mask is not None:
        allowed = mask.bool()
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * allowed.any(dim=-1, keepdim=True)
    out = (F.dropout(weights, p, training) @ v).transpose(1, 2).reshape(B, Tq, D)
    return F.linear(out, attn.W_o.weight, attn.W_o.bias)


def block_reference(block, x, enc, self_mask, cross_mask, num_heads: int, p: float, training: bool):
    """x + Dropout(Sublayer(Norm(x))) three times, dropout exactly where the API says, drawn in forward order."""
    lin1, lin2 = ffn_linears(block)
    h = block.norm1(x)
    x = x + F.dropout(_mha_reference(block.self_attn, h, h, self_mask, num_heads, p, training), p, training)
    h = block.norm2(x)
    x = x + F.dropout(_mha_reference(block.cross_attn, h, enc, cross_mask, num_heads, p, training), p, training)
    h = block.norm3(x)
    return x + F.dropout(lin2(F.dropout(F.gelu(lin1(h)), p, training)), p, training)

