"""Hidden checks for exercise 1: the mask helpers (1a) and `TransformerDecoderBlock` (1b).

What the notebook states, and so all these checks rely on (nothing else):

- `causal_mask(T)` returns a bool tensor of shape (T, T), True at [i, j] when position i may attend to position j,
  i.e. when j <= i (the diagonal is True).
- `padding_mask(lengths, max_len=None)`: lengths is a 1-D integer tensor (batch,); returns a bool tensor of shape
  (batch, 1, 1, max_len), True at [b, 0, 0, j] when j < lengths[b]; max_len defaults to the largest length.
- `TransformerDecoderBlock(d_model, num_heads, d_ff=None, dropout=0.1)` is an nn.Module with `self_attn` and
  `cross_attn` (two separate provided `MultiHeadAttention(d_model, num_heads, dropout)`), `ffn` (nn.Sequential
  Linear(d_model, d_ff) -> GELU (exact) -> Dropout(dropout) -> Linear(d_ff, d_model), d_ff defaulting to
  4 * d_model), `norm1`, `norm2`, `norm3` (three separate nn.LayerNorm(d_model)) and `dropout` (nn.Dropout(dropout)).
- `forward(x, encoder_output, self_mask=None, cross_mask=None)` computes, pre-norm,
      x = x + dropout(self_attn(norm1(x), norm1(x), norm1(x), self_mask))
      x = x + dropout(cross_attn(norm2(x), encoder_output, encoder_output, cross_mask))
      x = x + dropout(ffn(norm3(x)))
  uses exactly the masks it is given (True = may attend; None = no mask; it builds none itself), returns a tensor
  of x's shape, and does not modify its inputs.

The provided MultiHeadAttention has `W_q, W_k, W_v, W_o` (nn.Linear) and applies dropout to its attention weights;
the checks read those weights. `nn.TransformerDecoderLayer(..., activation="gelu", batch_first=True,
norm_first=True)` computes the same function; its masks use the opposite polarity (True = blocked).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._core import CheckFailed, CheckGroups, expect, expect_close, plain

GROUPS = CheckGroups()
probe = GROUPS.probe


def check(group: str):
    """Register a check that runs from a fixed random state and leaves the notebook's random state as it was
    (building modules draws from the global generator; a hidden test must not change what later cells draw).

    It also runs on one thread: the checks' tensors are tiny, and on a machine busy with other work (several
    notebooks graded at once) intra-op threads spin-waiting for a core made them about ten times slower here.
    """

    def register(fn):
        @functools.wraps(fn)
        def isolated(*args):
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    return fn(*args)
            finally:
                torch.set_num_threads(threads)

        GROUPS.check(group)(isolated)
        return fn

    return register

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


# --- 1a: mask helpers (judged outside the kernel: the probe reports the masks, the judge inspects them) -----------

def _returned_mask(value: object, call: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{call} should return a tensor, got {name}")
    return value


def _batch_order(seed: int, lengths: list[int]) -> list[int]:
    """The sequences of a batch in an order drawn from the seed (seed 0, the unit tests': as written): every row
    of a padding mask depends on its own length only, so a correct helper passes whatever the order, while masks
    recorded in another grading run are in another order."""
    if seed == 0 or len(lengths) < 2:
        return list(lengths)
    order = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(seed % 2**63))
    return [lengths[i] for i in order.tolist()]


CAUSAL_SHAPE_T = (1, 4, 9)


@probe("causal_mask")
def causal_mask_shape_and_dtype(causal_mask, seed: int) -> dict:
    """causal_mask(T) is a bool tensor of shape (T, T)"""
    return {"masks": [plain(causal_mask(T)) for T in CAUSAL_SHAPE_T]}


@causal_mask_shape_and_dtype.judge
def _(data: dict, seed: int) -> None:
    for T, mask in zip(CAUSAL_SHAPE_T, data["masks"], strict=True):
        mask = _returned_mask(mask, f"causal_mask({T})")
        expect(tuple(mask.shape) == (T, T), f"causal_mask({T}) has shape {tuple(mask.shape)}, expected ({T}, {T})")
        expect(mask.dtype == torch.bool, f"causal_mask({T}) has dtype {mask.dtype}, expected torch.bool")


CAUSAL_POLARITY_T = (3, 7)


@probe("causal_mask")
def causal_mask_polarity(causal_mask, seed: int) -> dict:
    """True where a position may attend (earlier positions), False for every later position"""
    return {"masks": [plain(causal_mask(T)) for T in CAUSAL_POLARITY_T]}


@causal_mask_polarity.judge
def _(data: dict, seed: int) -> None:
    for T, mask in zip(CAUSAL_POLARITY_T, data["masks"], strict=True):
        mask = _returned_mask(mask, f"causal_mask({T})")
        expect(mask.numel() == T * T, f"causal_mask({T}) should have {T * T} entries")
        mask = mask.reshape(T, T).bool()
        below = torch.ones(T, T, dtype=torch.bool).tril(-1)
        above = torch.ones(T, T, dtype=torch.bool).triu(1)
        expect(not bool(mask[above].any()),
               f"causal_mask({T}) lets a position attend to a LATER position (an entry above the diagonal is "
               f"True): True must mean 'may attend', and no position may look ahead")
        expect(bool(mask[below].all()),
               f"causal_mask({T}) stops a position from attending to an EARLIER position (an entry below the "
               f"diagonal is False)")


CAUSAL_DIAGONAL_T = (1, 5)


@probe("causal_mask")
def causal_mask_diagonal(causal_mask, seed: int) -> dict:
    """every position may attend to itself (the diagonal is True), also for T = 1"""
    return {"masks": [plain(causal_mask(T)) for T in CAUSAL_DIAGONAL_T]}


@causal_mask_diagonal.judge
def _(data: dict, seed: int) -> None:
    for T, mask in zip(CAUSAL_DIAGONAL_T, data["masks"], strict=True):
        mask = _returned_mask(mask, f"causal_mask({T})")
        expect(mask.numel() == T * T, f"causal_mask({T}) should have {T * T} entries")
        diagonal = mask.reshape(T, T).bool().diagonal()
        expect(bool(diagonal.all()), f"in causal_mask({T}) a position may not attend to itself: the diagonal "
                                     f"should be True (position i sees positions 0..i, itself included)")


def _call_padding(padding_mask, lengths: list[int], max_len=None) -> object:
    tensor = torch.tensor(lengths)
    return plain(padding_mask(tensor) if max_len is None else padding_mask(tensor, max_len))


PADDING_SHAPE_CASES = (([3, 1, 4], 6), ([2], 2), ([5, 5], 7))


@probe("padding_mask")
def padding_mask_shape_and_dtype(padding_mask, seed: int) -> dict:
    """padding_mask(lengths, max_len) is a bool tensor of shape (batch, 1, 1, max_len)"""
    return {"masks": [_call_padding(padding_mask, _batch_order(seed, lengths), max_len)
                      for lengths, max_len in PADDING_SHAPE_CASES]}


@padding_mask_shape_and_dtype.judge
def _(data: dict, seed: int) -> None:
    for (lengths, max_len), mask in zip(PADDING_SHAPE_CASES, data["masks"], strict=True):
        lengths = _batch_order(seed, lengths)
        mask = _returned_mask(mask, "padding_mask")
        expected = (len(lengths), 1, 1, max_len)
        expect(tuple(mask.shape) == expected,
               f"padding_mask(torch.tensor({lengths}), {max_len}) has shape {tuple(mask.shape)}, expected "
               f"{expected}: (batch, 1, 1, key length) broadcasts over heads and query positions")
        expect(mask.dtype == torch.bool, f"padding_mask has dtype {mask.dtype}, expected torch.bool")


PADDING_POLARITY_CASES = (([3, 1, 4, 6], 6), ([2, 7], 9))


@probe("padding_mask")
def padding_mask_polarity(padding_mask, seed: int) -> dict:
    """True exactly at the real tokens (position < length), False at the padding"""
    return {"masks": [_call_padding(padding_mask, _batch_order(seed, lengths), max_len)
                      for lengths, max_len in PADDING_POLARITY_CASES]}


@padding_mask_polarity.judge
def _(data: dict, seed: int) -> None:
    for (lengths, max_len), mask in zip(PADDING_POLARITY_CASES, data["masks"], strict=True):
        lengths = _batch_order(seed, lengths)
        mask = _returned_mask(mask, "padding_mask")
        expect(mask.numel() == len(lengths) * max_len,
               f"padding_mask(torch.tensor({lengths}), {max_len}) should have {len(lengths) * max_len} entries")
        values = mask.reshape(len(lengths), max_len).bool()
        for b, length in enumerate(lengths):
            expect(bool(values[b, :length].all()),
                   f"padding_mask(torch.tensor({lengths}), {max_len}): sequence {b} has {length} real tokens, but "
                   f"some of its first {length} positions are False (True must mean 'a real token, may attend')")
            expect(not bool(values[b, length:].any()),
                   f"padding_mask(torch.tensor({lengths}), {max_len}): sequence {b} has {length} real tokens, but "
                   f"a padding position (index >= {length}) is True")


DEFAULT_LENGTHS = [2, 5, 3]


@probe("padding_mask")
def padding_mask_default_length(padding_mask, seed: int) -> dict:
    """padding_mask(lengths) pads to the largest length"""
    return {"mask": _call_padding(padding_mask, _batch_order(seed, DEFAULT_LENGTHS))}


@padding_mask_default_length.judge
def _(data: dict, seed: int) -> None:
    lengths = _batch_order(seed, DEFAULT_LENGTHS)
    mask = _returned_mask(data["mask"], "padding_mask")
    expect(tuple(mask.shape) == (3, 1, 1, 5),
           f"padding_mask(torch.tensor({lengths})) has shape {tuple(mask.shape)}, expected (3, 1, 1, 5): without "
           f"max_len the mask should be as long as the longest sequence")
    expect(torch.equal(mask.bool(), _padding(lengths, 5)),
           f"padding_mask(torch.tensor({lengths})) has the right shape but wrong values")


# --- 1b: helpers ----------------------------------------------------------------------------------------------

def make_block(cls, d_model: int, num_heads: int, **kwargs) -> nn.Module:
    block = cls(d_model, num_heads, **kwargs)
    expect(isinstance(block, nn.Module), "TransformerDecoderBlock must be an nn.Module (subclass torch.nn.Module)")
    for name in ("self_attn", "cross_attn", "ffn", "norm1", "norm2", "norm3", "dropout"):
        expect(hasattr(block, name), f"the block has no attribute `{name}` (the API names self_attn, cross_attn, "
                                     f"ffn, norm1, norm2, norm3 and dropout)")
    for name in ("self_attn", "cross_attn"):
        attn = getattr(block, name)
        for weight in ("W_q", "W_k", "W_v", "W_o"):
            expect(isinstance(getattr(attn, weight, None), nn.Linear),
                   f"`{name}` should be the provided MultiHeadAttention (with W_q, W_k, W_v, W_o); found "
                   f"{type(attn).__name__}")
    for name in ("norm1", "norm2", "norm3"):
        expect(isinstance(getattr(block, name), nn.LayerNorm), f"`{name}` should be an nn.LayerNorm")
    expect(len(ffn_linears(block)) == 2, "`ffn` should contain exactly two nn.Linear layers")
    return block


def ffn_linears(block: nn.Module) -> list[nn.Linear]:
    return [m for m in block.ffn.modules() if isinstance(m, nn.Linear)]


def randomize(block: nn.Module, seed: int) -> nn.Module:
    """Random values for every parameter: LayerNorm's ones and zeros and zero biases hide ordering mistakes."""
    g = _generator(seed)
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(1 + 0.5 * torch.randn(module.weight.shape, generator=g))
                module.bias.copy_(0.5 * torch.randn(module.bias.shape, generator=g))
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) / math.sqrt(module.in_features))
                if module.bias is not None:
                    module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=g))
    return block


def torch_layer(block: nn.Module, d_model: int, num_heads: int, d_ff: int) -> nn.TransformerDecoderLayer:
    """nn.TransformerDecoderLayer with the student's weights copied across, in float64, eval mode."""
    layer = nn.TransformerDecoderLayer(d_model, num_heads, d_ff, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    with torch.no_grad():
        for ours, theirs in ((block.self_attn, layer.self_attn), (block.cross_attn, layer.multihead_attn)):
            theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
            theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
            theirs.out_proj.weight.copy_(ours.W_o.weight)
            theirs.out_proj.bias.copy_(ours.W_o.bias)
        lin1, lin2 = ffn_linears(block)
        expect(tuple(lin1.weight.shape) == (d_ff, d_model) and tuple(lin2.weight.shape) == (d_model, d_ff),
               f"the ffn's Linear layers should map {d_model} -> {d_ff} -> {d_model}")
        expect(lin1.bias is not None and lin2.bias is not None, "the ffn's Linear layers should have biases")
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


def compare_with_torch(cls, d_model, num_heads, d_ff, T, S, lengths_t, lengths_s, causal, seed, what,
                       pass_d_ff=True, x_scale=1.0) -> None:
    kwargs = {"d_ff": d_ff} if pass_d_ff else {}
    block = randomize(make_block(cls, d_model, num_heads, **kwargs), seed).eval()
    layer = torch_layer(block, d_model, num_heads, d_ff)
    batch = len(lengths_s) if lengths_s is not None else (len(lengths_t) if lengths_t is not None else 2)
    x = _randn(batch, T, d_model, seed=seed + 1, scale=x_scale)
    enc = _randn(batch, S, d_model, seed=seed + 2)
    self_mask, cross_mask = our_masks(T, S, causal, lengths_t, lengths_s)
    with torch.no_grad():
        y = block(x, enc, self_mask, cross_mask)
    expect(isinstance(y, torch.Tensor), f"forward should return a tensor, got {type(y).__name__}")
    expect(tuple(y.shape) == tuple(x.shape), f"{what}: output shape {tuple(y.shape)}, expected x's "
                                             f"{tuple(x.shape)}")
    expect_close(y, torch_output(layer, x, enc, causal, lengths_t, lengths_s), what, rtol=RTOL, atol=ATOL)


# --- 1b: API --------------------------------------------------------------------------------------------------

def expected_parameter_count(d_model: int, d_ff: int) -> int:
    attention = 4 * (d_model * d_model + d_model)
    ffn = d_model * d_ff + d_ff + d_ff * d_model + d_model
    return 2 * attention + ffn + 3 * 2 * d_model


@check("api")
def attributes_as_stated(cls) -> None:
    """the attributes the API names exist and have the stated types and sizes"""
    block = make_block(cls, 32, 4, d_ff=48, dropout=0.2)
    expect(block.self_attn is not block.cross_attn, "self_attn and cross_attn must be two separate modules")
    norms = [block.norm1, block.norm2, block.norm3]
    expect(len({id(n) for n in norms}) == 3, "norm1, norm2 and norm3 must be three separate LayerNorms")
    for name, norm in zip(("norm1", "norm2", "norm3"), norms):
        expect(tuple(norm.normalized_shape) == (32,), f"`{name}` should normalise over d_model = 32")
    expect(isinstance(block.dropout, nn.Dropout), "`dropout` should be an nn.Dropout")
    expect(isinstance(block.ffn, nn.Sequential), "`ffn` should be an nn.Sequential")
    kinds = [type(m).__name__ for m in block.ffn]
    expect(kinds == ["Linear", "GELU", "Dropout", "Linear"],
           f"`ffn` should be Linear -> GELU -> Dropout -> Linear, found {' -> '.join(kinds)}")


@check("api")
def parameter_count(cls) -> None:
    """the number of learnable parameters matches the API (two attentions, the FFN, three LayerNorms)"""
    for d_model, num_heads, d_ff in ((32, 4, 48), (24, 2, 40)):
        block = make_block(cls, d_model, num_heads, d_ff=d_ff)
        count = sum(p.numel() for p in block.parameters() if p.requires_grad)
        expected = expected_parameter_count(d_model, d_ff)
        expect(count == expected,
               f"TransformerDecoderBlock({d_model}, {num_heads}, d_ff={d_ff}) has {count} learnable parameters, "
               f"expected {expected}: two separate attentions, an FFN with biases, three separate LayerNorms")


@check("api")
def d_ff_default_and_argument(cls) -> None:
    """d_ff defaults to 4 * d_model and is used when given"""
    for d_model, kwargs, d_ff in ((16, {}, 64), (24, {"d_ff": 40}, 40), (24, {"d_ff": None}, 96)):
        lin1, lin2 = ffn_linears(make_block(cls, d_model, 4, **kwargs))
        expect(lin1.out_features == d_ff and lin2.in_features == d_ff,
               f"TransformerDecoderBlock({d_model}, 4{''.join(f', {k}={v}' for k, v in kwargs.items())}) has an "
               f"FFN hidden width of {lin1.out_features}, expected {d_ff}")


@check("api")
def output_shape_with_different_lengths(cls) -> None:
    """forward returns a tensor of x's shape and dtype, also when target and source lengths differ"""
    block = make_block(cls, 32, 4).eval()
    for T, S in ((5, 9), (8, 3), (1, 4)):
        x, enc = _randn(3, T, 32, seed=T), _randn(3, S, 32, seed=S + 50)
        self_mask, cross_mask = our_masks(T, S, True, None, [S, max(1, S - 2), 1])
        with torch.no_grad():
            y = block(x, enc, self_mask, cross_mask)
        expect(isinstance(y, torch.Tensor), f"forward should return a tensor, got {type(y).__name__}")
        expect(tuple(y.shape) == (3, T, 32),
               f"target length {T}, source length {S}: output shape {tuple(y.shape)}, expected (3, {T}, 32)")
        expect(y.dtype == x.dtype, f"output dtype {y.dtype}, expected x's {x.dtype}")


@check("api")
def inputs_left_unchanged(cls) -> None:
    """forward does not modify x, encoder_output or the masks"""
    block = randomize(make_block(cls, 16, 2), seed=60).eval()
    x, enc = _randn(2, 5, 16, seed=61), _randn(2, 7, 16, seed=62)
    self_mask, cross_mask = our_masks(5, 7, True, None, [7, 4])
    before = [t.clone() for t in (x, enc, self_mask, cross_mask)]
    with torch.no_grad():
        block(x, enc, self_mask, cross_mask)
    for name, now, then in zip(("x", "encoder_output", "self_mask", "cross_mask"),
                               (x, enc, self_mask, cross_mask), before):
        expect(torch.equal(now, then), f"forward changed its argument `{name}` in place (e.g. `x += ...`): "
                                       f"write `x = x + ...` instead")


# --- 1b: values -----------------------------------------------------------------------------------------------

@check("values")
def matches_torch_decoder_layer(cls) -> None:
    """equals nn.TransformerDecoderLayer(norm_first=True, activation="gelu") with the same weights, eval mode"""
    compare_with_torch(cls, 32, 4, 48, 6, 6, None, None, False, seed=100, what="no masks")
    compare_with_torch(cls, 32, 4, 48, 6, 6, None, [6, 4], True, seed=110, what="causal self-mask, padded source")
    compare_with_torch(cls, 24, 2, 96, 5, 5, None, [3, 5, 2], True, seed=120, pass_d_ff=False,
                       what="TransformerDecoderBlock(24, 2) with the default d_ff")
    # x of size ~1e-3: LayerNorm's eps (PyTorch's default 1e-5) is then visible
    compare_with_torch(cls, 32, 4, 48, 6, 6, None, [6, 5], True, seed=160, x_scale=1e-3,
                       what="a target x with values around 1e-3 (are the LayerNorms PyTorch's defaults?)")


@check("values")
def target_and_source_lengths_differ(cls) -> None:
    """equals the torch layer when the target and the encoder output have different lengths"""
    compare_with_torch(cls, 32, 4, 64, 4, 9, None, [9, 6, 2], True, seed=130, what="target length 4, source 9")
    compare_with_torch(cls, 32, 4, 64, 9, 3, None, [3, 1], True, seed=140, what="target length 9, source 3")


@check("values")
def batched_masks(cls) -> None:
    """per-sequence masks: a (batch, 1, T, T) self-mask (causal and target padding) and a (batch, 1, 1, S) one"""
    compare_with_torch(cls, 32, 4, 48, 7, 5, [7, 3, 5], [5, 2, 4], True, seed=150,
                       what="self_mask (batch, 1, T, T), cross_mask (batch, 1, 1, S)")


# --- 1b: masking ----------------------------------------------------------------------------------------------

@check("masking")
def self_attention_is_causal(cls) -> None:
    """with a causal self_mask, a random change at positions >= t leaves the outputs before t unchanged"""
    block = randomize(make_block(cls, 32, 4), seed=200).eval()
    T = 7
    x, enc = _randn(2, T, 32, seed=201), _randn(2, 5, 32, seed=202)
    with torch.no_grad():
        y = block(x, enc, _causal(T), None)
        for t in (1, 3, 6):
            x2 = x.clone()
            x2[:, t:] = _randn(2, T - t, 32, seed=203 + t, scale=2.0)  # random, not constant: see LayerNorm
            y2 = block(x2, enc, _causal(T), None)
            expect(torch.allclose(y[:, :t], y2[:, :t], rtol=1e-5, atol=1e-5),
                   f"changing target positions {t}.. changed the output at an earlier position: with a causal "
                   f"self_mask, position i may only see positions 0..i")
            expect(not torch.allclose(y[:, t], y2[:, t], rtol=1e-4, atol=1e-4),
                   f"changing target position {t} did not change its own output")


@check("masking")
def padded_source_positions_ignored(cls) -> None:
    """a random change at padded encoder positions changes no output"""
    block = randomize(make_block(cls, 32, 4), seed=210).eval()
    lengths = [6, 3, 1]
    x, enc = _randn(3, 4, 32, seed=211), _randn(3, 6, 32, seed=212)
    cross_mask = _padding(lengths, 6)
    enc2 = enc.clone()
    for b, length in enumerate(lengths):
        enc2[b, length:] = _randn(6 - length, 32, seed=213 + b, scale=3.0)
    with torch.no_grad():
        y, y2 = block(x, enc, _causal(4), cross_mask), block(x, enc2, _causal(4), cross_mask)
    expect(torch.allclose(y, y2, rtol=1e-5, atol=1e-5),
           "changing the encoder output at PADDED positions changed the block's output: cross_mask (True = real "
           "token) must keep the cross-attention away from padding")


@check("masking")
def every_real_source_position_matters(cls) -> None:
    """a random change at any real (unpadded) encoder position changes the output at every target position"""
    block = randomize(make_block(cls, 32, 4), seed=220).eval()
    lengths = [5, 3]
    T = 4
    x, enc = _randn(2, T, 32, seed=221), _randn(2, 5, 32, seed=222)
    cross_mask = _padding(lengths, 5)
    with torch.no_grad():
        y = block(x, enc, _causal(T), cross_mask)
        for b, length in enumerate(lengths):
            for s in range(length):
                enc2 = enc.clone()
                enc2[b, s] = _randn(32, seed=230 + 10 * b + s, scale=2.0)
                y2 = block(x, enc2, _causal(T), cross_mask)
                moved = (y2[b] - y[b]).abs().amax(-1) > 1e-4
                expect(bool(moved.all()),
                       f"changing encoder position {s} (a real token) left the output at target position(s) "
                       f"{(~moved).nonzero().flatten().tolist()} unchanged: every target position may attend to "
                       f"every real encoder position (the cross-attention is not causal)")


# --- 1b: training ---------------------------------------------------------------------------------------------

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


@check("training")
def every_parameter_and_input_gets_a_gradient(cls) -> None:
    """every parameter, x and encoder_output receive a non-zero gradient (random weighting of the output)"""
    block = randomize(make_block(cls, 16, 2, d_ff=24), seed=300).eval()
    x = _randn(2, 5, 16, seed=301).requires_grad_()
    enc = _randn(2, 6, 16, seed=302).requires_grad_()
    self_mask, cross_mask = our_masks(5, 6, True, None, [6, 4])
    y = block(x, enc, self_mask, cross_mask)
    expect(isinstance(y, torch.Tensor) and y.requires_grad,
           "the output does not require grad: is forward (or part of it) run under torch.no_grad()?")
    (y * _randn(*y.shape, seed=303)).sum().backward()
    missing = [name for name, p in block.named_parameters()
               if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))]
    expect(not missing, f"these parameters received no gradient: {missing} (unused, detached, or under no_grad?)")
    for name, t in (("x", x), ("encoder_output", enc)):
        expect(t.grad is not None and bool(t.grad.abs().sum() > 0),
               f"no gradient reached `{name}`: is it detached, or not used where it should be?")


@check("training")
def dropout_exactly_where_stated(cls) -> None:
    """in training mode, dropout(p) acts on the attention weights, each sublayer's output and inside the FFN only"""
    for p, seed in ((0.3, 310), (0.0, 320)):
        block = randomize(make_block(cls, 16, 2, d_ff=24, dropout=p), seed=seed).train()
        x, enc = _randn(2, 5, 16, seed=seed + 1), _randn(2, 6, 16, seed=seed + 2)
        self_mask, cross_mask = our_masks(5, 6, True, None, [6, 4])
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 3)
            y = block(x, enc, self_mask, cross_mask)
            torch.manual_seed(seed + 3)
            expected = block_reference(block, x, enc, self_mask, cross_mask, 2, p, True)
        expect(isinstance(y, torch.Tensor) and tuple(y.shape) == tuple(x.shape),
               "forward should return a tensor of x's shape")
        expect(bool(torch.allclose(y, expected, rtol=RTOL, atol=ATOL)),
               f"in training mode with dropout={p} the output differs from x + Dropout(Sublayer(Norm(x))) with "
                f"dropout(p={p}) exactly where the API puts it (both attentions' weights via MultiHeadAttention("
                f"d_model, num_heads, dropout), after each sublayer, inside the FFN) and nowhere else")


@check("training")
def eval_mode_is_deterministic(cls) -> None:
    """in eval mode (dropout off) two calls give the same output, that of the block without dropout"""
    block = randomize(make_block(cls, 16, 2, dropout=0.5), seed=330).eval()
    x, enc = _randn(2, 5, 16, seed=331), _randn(2, 6, 16, seed=332)
    self_mask, cross_mask = our_masks(5, 6, True, None, [6, 3])
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(333)
        y1 = block(x, enc, self_mask, cross_mask)
        torch.manual_seed(334)
        y2 = block(x, enc, self_mask, cross_mask)
        expected = block_reference(block, x, enc, self_mask, cross_mask, 2, 0.5, False)
    expect(torch.equal(y1, y2), "in eval mode two calls gave different outputs: dropout must be off after "
                                ".eval() (F.dropout needs training=self.training; nn.Dropout does it for you)")
    expect_close(y1, expected, "eval mode output (no dropout anywhere)", rtol=RTOL, atol=ATOL)
