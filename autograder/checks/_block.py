"""The block checks' machinery (exercise 1b, used by decoder.py): the random weights a probe gives the student's
block and how it reports them, the judge's reference block rebuilt from that report, the float64 references
(nn.TransformerDecoderLayer, and `block_reference` with dropout drawn in forward order) and the witness of the
property checks. Nothing here runs the student's code except `call`, `make_block` and `randomize`, in the probes.

Every probe gives the block's Linear and LayerNorm layers random weights drawn from the seed (`randomize`), calls
it on inputs drawn from the seed and reports what it saw (`report`: which modules the block has, in order, and
their parameters) with the outputs. The judge redraws the weights from the reported layout and requires the
reported parameters to be exactly those (so that no output can have been computed with other weights), builds its
own reference block from them (`reference_block`), rebuilds the inputs and compares.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._core import CheckFailed, expect, plain

RTOL, ATOL = 1e-4, 1e-5  # float32 student code against a float64 reference


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
    return [m for m in block.ffn.modules() if isinstance(m, (nn.Linear, Affine))]


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


def our_masks(T: int, S: int, causal: bool, tgt_lengths=None, src_lengths=None):
    self_mask = _causal(T) if causal else None
    if tgt_lengths is not None:
        pad = _padding(tgt_lengths, T)
        self_mask = pad if self_mask is None else self_mask & pad  # (batch, 1, T, T) when causal
    cross_mask = None if src_lengths is None else _padding(src_lengths, S)
    return self_mask, cross_mask


def returned(value: object, what: str, shape: tuple | None = None) -> torch.Tensor:
    """A tensor the student's forward returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"forward should return a tensor, got {name}")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), f"{what}: output shape {tuple(value.shape)}, expected x's "
                                                   f"{tuple(shape)}")
    return value


def _beyond_input(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """What a block's output has that its input does not: y minus its projection on x, at every position."""
    y, x = y.double(), x.double()
    return y - (y * x).sum(-1, keepdim=True) / (x * x).sum(-1, keepdim=True).clamp_min(1e-12) * x


def follows_reference(outputs: list, expected: list, xs: list, what: str) -> None:
    """The witness of the property checks (which compare a block's outputs with each other, not with the
    reference): over all the check's calls, what the outputs add to the inputs (`_beyond_input`) must point the
    way the reference's does, cosine above WITNESS_COSINE. A weak witness, set where no realistic block fails it:
    measured over 30 seeds, the wrong blocks that have the properties gave 0.15 at the lowest (post-norm), while
    outputs computed with other weights gave 0 +- 0.08 (up to 0.16): made-up outputs (zeros, the inputs
    themselves) always fail it, outputs for other weights or inputs about 3 times in 4 per check."""
    actual = torch.cat([_beyond_input(y, x).flatten() for y, x in zip(outputs, xs, strict=True)])
    wanted = torch.cat([_beyond_input(e, x).flatten() for e, x in zip(expected, xs, strict=True)])
    expect(bool(torch.isfinite(actual).all()), f"{what}: the output contains inf or NaN")
    cosine = (actual @ wanted / (actual.norm() * wanted.norm()).clamp_min(1e-12)).item()
    expect(cosine > WITNESS_COSINE, f"{what}: the outputs do not follow the inputs and weights the grader chose "
                                    f"(computed for other inputs?)")


WITNESS_COSINE = 0.05


def call(block: nn.Module, inputs: tuple) -> dict:
    """The block's output for `inputs`, and x and encoder_output after the call (the judge requires them
    unchanged: a block that changes its input in place has changed what the caller computes with next)."""
    x, enc = inputs[0].clone(), inputs[1].clone()
    y = block(x, enc, *inputs[2:])
    return {"y": plain(y), "after": [plain(x), plain(enc)]}


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
