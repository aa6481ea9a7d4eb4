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

Every check is judged outside the student's process (see _core.py): its probe builds the inputs from the seed,
calls the student's code and returns plain data; its judge rebuilds the same inputs, computes the reference itself
and compares. How the block's probes report its weights, and how the judge rebuilds the block, is in _block.py.
"""
from __future__ import annotations

import dataclasses
import functools

import torch
from torch import nn

from ._block import (ATOL, ROLES, RTOL, _causal, _padding, _randn, _stream, block_reference, call,
                     ffn_linears, follows_reference, make_block, our_masks, output, randomize, reference_block, report,
                     returned, roles, torch_layer, torch_output)
from ._core import CheckFailed, CheckGroups, expect, expect_close, plain

GROUPS = CheckGroups()
probe = GROUPS.probe


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


# --- 1b: the block (judged outside the kernel; the probes' and judges' machinery is in _block.py) ----------------
#
# Every probe builds the student's block, gives its Linear and LayerNorm layers random weights drawn from the seed
# (`randomize`), calls it on inputs drawn from the seed and reports what it saw (`report`: which modules the block
# has, in order, and its parameters) with the outputs. The judge redraws the weights from the reported layout and
# requires the reported parameters to be exactly those (so that no output can have been computed with other
# weights), builds its own reference block from them (`reference_block`), rebuilds the inputs and compares. Seed 0
# draws the numbers these checks were written with; a grading seed mixes into every draw (`_stream`).


def block_probe(group: str):
    """Register a block probe that runs on one thread from a fixed random state (building a module draws from
    the global generator; CheckGroups puts the notebook's random state and thread count back afterwards).

    One thread: the checks' tensors are tiny, and on a machine busy with other work (several notebooks graded at
    once) intra-op threads spin-waiting for a core made them about ten times slower here.
    """

    def register(fn):
        @functools.wraps(fn)
        def probed(cls, seed: int) -> dict:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                torch.manual_seed(_stream(seed, 0))
                return fn(cls, seed)
            finally:
                torch.set_num_threads(threads)

        return probe(group)(probed)

    return register


def block_judge(check):
    """Register a block judge, run on one thread with the caller's random state put back (the dropout judge seeds
    the global generator: the judge runs in nbgrader's process)."""

    def register(fn):
        @functools.wraps(fn)
        def judged(data: dict, seed: int) -> None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.random.fork_rng(devices=[]):
                    return fn(data, seed)
            finally:
                torch.set_num_threads(threads)

        return check.judge(judged)

    return register


# --- 1b: values -----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Case:
    """One comparison with nn.TransformerDecoderLayer: the block's sizes, the batch's lengths and masks."""
    what: str
    d_model: int
    num_heads: int
    d_ff: int
    T: int
    S: int
    lengths_t: tuple | None
    lengths_s: tuple | None
    causal: bool
    stream: int
    pass_d_ff: bool = True
    x_scale: float = 1.0

    @property
    def batch(self) -> int:
        lengths = self.lengths_s if self.lengths_s is not None else self.lengths_t
        return len(lengths) if lengths is not None else 2

    def inputs(self, seed: int):
        x = _randn(self.batch, self.T, self.d_model, seed=_stream(seed, self.stream + 1), scale=self.x_scale)
        enc = _randn(self.batch, self.S, self.d_model, seed=_stream(seed, self.stream + 2))
        return x, enc, *our_masks(self.T, self.S, self.causal, self.lengths_t, self.lengths_s)

    def probe(self, cls, seed: int) -> dict:
        kwargs = {"d_ff": self.d_ff} if self.pass_d_ff else {}
        block = randomize(make_block(cls, self.d_model, self.num_heads, **kwargs), _stream(seed, self.stream)).eval()
        data = report(block)
        with torch.no_grad():
            data["call"] = call(block, self.inputs(seed))
        return data

    def judge(self, data: dict, seed: int) -> None:
        ref = reference_block(data, _stream(seed, self.stream), self.d_model, self.d_ff)
        inputs = self.inputs(seed)
        x, enc = inputs[:2]
        y = output(data["call"], inputs, self.what)
        expected = torch_output(torch_layer(ref, self.d_model, self.num_heads, self.d_ff), x, enc, self.causal,
                                self.lengths_t, self.lengths_s)
        expect_close(y, expected, self.what, rtol=RTOL, atol=ATOL)


def _probe_cases(cases, cls, seed: int) -> dict:
    return {"cases": [case.probe(cls, seed) for case in cases]}


def _judge_cases(cases, data: dict, seed: int) -> None:
    for case, case_data in zip(cases, data["cases"], strict=True):
        case.judge(case_data, seed)


TORCH_CASES = (
    Case("no masks", 32, 4, 48, 6, 6, None, None, False, 100),
    Case("causal self-mask, padded source", 32, 4, 48, 6, 6, None, (6, 4), True, 110),
    Case("TransformerDecoderBlock(24, 2) with the default d_ff", 24, 2, 96, 5, 5, None, (3, 5, 2), True, 120,
         pass_d_ff=False),
    # x of size ~1e-3: LayerNorm's eps (PyTorch's default 1e-5) is then visible
    Case("a target x with values around 1e-3 (are the LayerNorms PyTorch's defaults?)", 32, 4, 48, 6, 6, None,
         (6, 5), True, 160, x_scale=1e-3),
)


@block_probe("values")
def matches_torch_decoder_layer(cls, seed: int) -> dict:
    """equals nn.TransformerDecoderLayer(norm_first=True, activation="gelu") with the same weights, eval mode"""
    return _probe_cases(TORCH_CASES, cls, seed)


@block_judge(matches_torch_decoder_layer)
def _(data: dict, seed: int) -> None:
    _judge_cases(TORCH_CASES, data, seed)


LENGTH_CASES = (
    Case("target length 4, source 9", 32, 4, 64, 4, 9, None, (9, 6, 2), True, 130),
    Case("target length 9, source 3", 32, 4, 64, 9, 3, None, (3, 1), True, 140),
)


@block_probe("values")
def target_and_source_lengths_differ(cls, seed: int) -> dict:
    """equals the torch layer when the target and the encoder output have different lengths"""
    return _probe_cases(LENGTH_CASES, cls, seed)


@block_judge(target_and_source_lengths_differ)
def _(data: dict, seed: int) -> None:
    _judge_cases(LENGTH_CASES, data, seed)


BATCHED_CASES = (Case("self_mask (batch, 1, T, T), cross_mask (batch, 1, 1, S)", 32, 4, 48, 7, 5, (7, 3, 5),
                      (5, 2, 4), True, 150),)


@block_probe("values")
def batched_masks(cls, seed: int) -> dict:
    """per-sequence masks: a (batch, 1, T, T) self-mask (causal and target padding) and a (batch, 1, 1, S) one"""
    return _probe_cases(BATCHED_CASES, cls, seed)


@block_judge(batched_masks)
def _(data: dict, seed: int) -> None:
    _judge_cases(BATCHED_CASES, data, seed)


# --- 1b: API --------------------------------------------------------------------------------------------------

def expected_parameter_count(d_model: int, d_ff: int) -> int:
    attention = 4 * (d_model * d_model + d_model)
    ffn = d_model * d_ff + d_ff + d_ff * d_model + d_model
    return 2 * attention + ffn + 3 * 2 * d_model


def _classes(module: object) -> list[str]:
    """The qualified names of a module's class and its bases: the judge decides what counts as an nn.Dropout."""
    return [f"{c.__module__}.{c.__qualname__}" for c in type(module).__mro__]


def _is(classes: list[str], cls: type) -> bool:
    return f"{cls.__module__}.{cls.__qualname__}" in classes


@block_probe("api")
def attributes_as_stated(cls, seed: int) -> dict:
    """the attributes the API names exist and have the stated types and sizes"""
    block = make_block(cls, 32, 4, d_ff=48, dropout=0.2)
    ffn = block.ffn
    return {"roles": roles(block), "classes": {attr: _classes(getattr(block, attr)) for attr in ROLES},
            "normalized_shapes": [list(getattr(block, n).normalized_shape) for n in ("norm1", "norm2", "norm3")],
            "ffn_children": [type(m).__name__ for m in ffn] if isinstance(ffn, nn.Sequential) else None}


@block_judge(attributes_as_stated)
def _(data: dict, seed: int) -> None:
    names = data["roles"]
    classes = data["classes"]
    expect(names["self_attn"] is None or names["self_attn"] != names["cross_attn"],
           "self_attn and cross_attn must be two separate modules")
    norms = [names[n] for n in ("norm1", "norm2", "norm3")]
    expect(None in norms or len(set(norms)) == 3, "norm1, norm2 and norm3 must be three separate LayerNorms")
    for attr in ROLES:
        expect(names[attr] is not None, f"`{attr}` is not a submodule registered on the block: assign the module "
                                        f"to self.{attr} in __init__")
    for attr in ("norm1", "norm2", "norm3"):
        expect(_is(classes[attr], nn.LayerNorm), f"`{attr}` should be an nn.LayerNorm")
    for attr, shape in zip(("norm1", "norm2", "norm3"), data["normalized_shapes"], strict=True):
        expect(list(shape) == [32], f"`{attr}` should normalise over d_model = 32")
    expect(_is(classes["dropout"], nn.Dropout), "`dropout` should be an nn.Dropout")
    expect(_is(classes["ffn"], nn.Sequential) and data["ffn_children"] is not None, "`ffn` should be an nn.Sequential")
    kinds = list(data["ffn_children"])
    expect(kinds == ["Linear", "GELU", "Dropout", "Linear"],
           f"`ffn` should be Linear -> GELU -> Dropout -> Linear, found {' -> '.join(map(str, kinds))}")


COUNT_SIZES = ((32, 4, 48), (24, 2, 40))


@block_probe("api")
def parameter_count(cls, seed: int) -> dict:
    """the number of learnable parameters matches the API (two attentions, the FFN, three LayerNorms)"""
    return {"counts": [sum(p.numel() for p in make_block(cls, d_model, num_heads, d_ff=d_ff).parameters()
                           if p.requires_grad) for d_model, num_heads, d_ff in COUNT_SIZES]}


@block_judge(parameter_count)
def _(data: dict, seed: int) -> None:
    for (d_model, num_heads, d_ff), count in zip(COUNT_SIZES, data["counts"], strict=True):
        expected = expected_parameter_count(d_model, d_ff)
        expect(count == expected,
               f"TransformerDecoderBlock({d_model}, {num_heads}, d_ff={d_ff}) has {count} learnable parameters, "
               f"expected {expected}: two separate attentions, an FFN with biases, three separate LayerNorms")


D_FF_CASES = ((16, {}, 64), (24, {"d_ff": 40}, 40), (24, {"d_ff": None}, 96))


@block_probe("api")
def d_ff_default_and_argument(cls, seed: int) -> dict:
    """d_ff defaults to 4 * d_model and is used when given"""
    widths = []
    for d_model, kwargs, _ in D_FF_CASES:
        lin1, lin2 = ffn_linears(make_block(cls, d_model, 4, **kwargs))
        widths.append([lin1.out_features, lin2.in_features])
    return {"widths": widths}


@block_judge(d_ff_default_and_argument)
def _(data: dict, seed: int) -> None:
    for (d_model, kwargs, d_ff), (out1, in2) in zip(D_FF_CASES, data["widths"], strict=True):
        expect(out1 == d_ff and in2 == d_ff,
               f"TransformerDecoderBlock({d_model}, 4{''.join(f', {k}={v}' for k, v in kwargs.items())}) has an "
               f"FFN hidden width of {out1}, expected {d_ff}")


SHAPE_LENGTHS = ((5, 9), (8, 3), (1, 4))


def _shape_inputs(seed: int, T: int, S: int):
    x, enc = _randn(3, T, 32, seed=_stream(seed, T)), _randn(3, S, 32, seed=_stream(seed, S + 50))
    return x, enc, *our_masks(T, S, True, None, [S, max(1, S - 2), 1])


@block_probe("api")
def output_shape_with_different_lengths(cls, seed: int) -> dict:
    """forward returns a tensor of x's shape and dtype, also when target and source lengths differ"""
    block = make_block(cls, 32, 4).eval()
    outputs = []
    with torch.no_grad():
        for T, S in SHAPE_LENGTHS:
            outputs.append(plain(block(*_shape_inputs(seed, T, S))))
    return {"outputs": outputs}


@block_judge(output_shape_with_different_lengths)
def _(data: dict, seed: int) -> None:
    for (T, S), y in zip(SHAPE_LENGTHS, data["outputs"], strict=True):
        y = returned(y, f"target length {T}, source length {S}")
        expect(tuple(y.shape) == (3, T, 32),
               f"target length {T}, source length {S}: output shape {tuple(y.shape)}, expected (3, {T}, 32)")
        expect(y.dtype == torch.float32, f"output dtype {y.dtype}, expected x's torch.float32")


def _unchanged_inputs(seed: int):
    x, enc = _randn(2, 5, 16, seed=_stream(seed, 61)), _randn(2, 7, 16, seed=_stream(seed, 62))
    return x, enc, *our_masks(5, 7, True, None, [7, 4])


ARGUMENTS = ("x", "encoder_output", "self_mask", "cross_mask")


@block_probe("api")
def inputs_left_unchanged(cls, seed: int) -> dict:
    """forward does not modify x, encoder_output or the masks"""
    block = randomize(make_block(cls, 16, 2), _stream(seed, 60)).eval()
    arguments = _unchanged_inputs(seed)
    with torch.no_grad():
        block(*arguments)
    return {"after": [plain(t) for t in arguments]}


@block_judge(inputs_left_unchanged)
def _(data: dict, seed: int) -> None:
    for name, now, then in zip(ARGUMENTS, data["after"], _unchanged_inputs(seed), strict=True):
        expect(isinstance(now, torch.Tensor) and now.dtype == then.dtype and torch.equal(now, then),
               f"forward changed its argument `{name}` in place (e.g. `x += ...`): write `x = x + ...` instead")


# --- 1b: masking ----------------------------------------------------------------------------------------------
#
# Property checks: the judge compares the outputs for two inputs with each other, and requires all of them to
# follow the reference's outputs for the same inputs and weights (follows_reference).

def _reference_outputs(data: dict, seed: int, stream: int, num_heads: int, inputs_list: list) -> list:
    """The reference's outputs (float64, eval mode) for each inputs of `inputs_list`, with the reported weights:
    computed as one batch (the inputs of a check share their shapes and their (T, T) self-mask)."""
    ref = reference_block(data, _stream(seed, stream), inputs_list[0][0].shape[-1]).double()
    x, enc = (torch.cat([inputs[i] for inputs in inputs_list]).double() for i in (0, 1))
    self_mask = inputs_list[0][2]
    cross_masks = [inputs[3] for inputs in inputs_list]
    cross_mask = None if cross_masks[0] is None else torch.cat(cross_masks)
    with torch.no_grad():
        y = block_reference(ref, x, enc, self_mask, cross_mask, num_heads, 0.0, False)
    return list(y.split(inputs_list[0][0].shape[0]))


def _property_outputs(data: dict, seed: int, stream: int, inputs_list: list, what: str) -> list:
    """The outputs of a property check's calls (inputs unchanged), once they follow the reference's."""
    outputs = [output(result, inputs, what) for result, inputs in zip(data["calls"], inputs_list, strict=True)]
    follows_reference(outputs, _reference_outputs(data, seed, stream, 4, inputs_list),
                      [inputs[0] for inputs in inputs_list], what)
    return outputs


def _probe_calls(cls, seed: int, stream: int, inputs_list: list) -> dict:
    block = randomize(make_block(cls, 32, 4), _stream(seed, stream)).eval()
    data = report(block)
    with torch.no_grad():
        data["calls"] = [call(block, inputs) for inputs in inputs_list]
    return data


CAUSAL_T, CAUSAL_CHANGES = 7, (1, 3, 6)


def _causal_inputs(seed: int) -> list:
    """x, then x changed at positions t.. for each t of CAUSAL_CHANGES (random, not constant: see LayerNorm)."""
    x, enc = _randn(2, CAUSAL_T, 32, seed=_stream(seed, 201)), _randn(2, 5, 32, seed=_stream(seed, 202))
    inputs = [(x, enc, _causal(CAUSAL_T), None)]
    for t in CAUSAL_CHANGES:
        x2 = x.clone()
        x2[:, t:] = _randn(2, CAUSAL_T - t, 32, seed=_stream(seed, 203 + t), scale=2.0)
        inputs.append((x2, enc, _causal(CAUSAL_T), None))
    return inputs


@block_probe("masking")
def self_attention_is_causal(cls, seed: int) -> dict:
    """with a causal self_mask, a random change at positions >= t leaves the outputs before t unchanged"""
    return _probe_calls(cls, seed, 200, _causal_inputs(seed))


@block_judge(self_attention_is_causal)
def _(data: dict, seed: int) -> None:
    y, *changed = _property_outputs(data, seed, 200, _causal_inputs(seed), "a causal self_mask")
    for t, y2 in zip(CAUSAL_CHANGES, changed, strict=True):
        expect(torch.allclose(y[:, :t], y2[:, :t], rtol=1e-5, atol=1e-5),
               f"changing target positions {t}.. changed the output at an earlier position: with a causal "
               f"self_mask, position i may only see positions 0..i")
        expect(not torch.allclose(y[:, t], y2[:, t], rtol=1e-4, atol=1e-4),
               f"changing target position {t} did not change its own output")


PADDED_LENGTHS = (6, 3, 1)


def _padded_inputs(seed: int) -> list:
    """The encoder output, then the same with random values at its padded positions."""
    x, enc = _randn(3, 4, 32, seed=_stream(seed, 211)), _randn(3, 6, 32, seed=_stream(seed, 212))
    enc2 = enc.clone()
    for b, length in enumerate(PADDED_LENGTHS):
        enc2[b, length:] = _randn(6 - length, 32, seed=_stream(seed, 213 + b), scale=3.0)
    cross_mask = _padding(list(PADDED_LENGTHS), 6)
    return [(x, enc, _causal(4), cross_mask), (x, enc2, _causal(4), cross_mask)]


@block_probe("masking")
def padded_source_positions_ignored(cls, seed: int) -> dict:
    """a random change at padded encoder positions changes no output"""
    return _probe_calls(cls, seed, 210, _padded_inputs(seed))


@block_judge(padded_source_positions_ignored)
def _(data: dict, seed: int) -> None:
    y, y2 = _property_outputs(data, seed, 210, _padded_inputs(seed), "a padded encoder output")
    expect(torch.allclose(y, y2, rtol=1e-5, atol=1e-5),
           "changing the encoder output at PADDED positions changed the block's output: cross_mask (True = real "
           "token) must keep the cross-attention away from padding")


REAL_LENGTHS, REAL_T = (5, 3), 4
REAL_CHANGES = tuple((b, s) for b, length in enumerate(REAL_LENGTHS) for s in range(length))


def _real_inputs(seed: int) -> list:
    """The encoder output, then the same changed at one real position, for each of REAL_CHANGES."""
    x, enc = _randn(2, REAL_T, 32, seed=_stream(seed, 221)), _randn(2, 5, 32, seed=_stream(seed, 222))
    cross_mask = _padding(list(REAL_LENGTHS), 5)
    inputs = [(x, enc, _causal(REAL_T), cross_mask)]
    for b, s in REAL_CHANGES:
        enc2 = enc.clone()
        enc2[b, s] = _randn(32, seed=_stream(seed, 230 + 10 * b + s), scale=2.0)
        inputs.append((x, enc2, _causal(REAL_T), cross_mask))
    return inputs


@block_probe("masking")
def every_real_source_position_matters(cls, seed: int) -> dict:
    """a random change at any real (unpadded) encoder position changes the output at every target position"""
    return _probe_calls(cls, seed, 220, _real_inputs(seed))


@block_judge(every_real_source_position_matters)
def _(data: dict, seed: int) -> None:
    y, *changed = _property_outputs(data, seed, 220, _real_inputs(seed), "a changed encoder position")
    for (b, s), y2 in zip(REAL_CHANGES, changed, strict=True):
        moved = (y2[b] - y[b]).abs().amax(-1) > 1e-4
        expect(bool(moved.all()),
               f"changing encoder position {s} (a real token) left the output at target position(s) "
               f"{(~moved).nonzero().flatten().tolist()} unchanged: every target position may attend to "
               f"every real encoder position (the cross-attention is not causal)")


# --- 1b: training ---------------------------------------------------------------------------------------------


def _gradient_inputs(seed: int):
    """x, encoder_output, the masks and a random weighting of the outputs."""
    x, enc = _randn(2, 5, 16, seed=_stream(seed, 301)), _randn(2, 6, 16, seed=_stream(seed, 302))
    return x, enc, *our_masks(5, 6, True, None, [6, 4]), _randn(2, 5, 16, seed=_stream(seed, 303))


GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-4  # float32 backward (sums over the batch) against a float64 one


@block_probe("training")
def every_parameter_and_input_gets_a_gradient(cls, seed: int) -> dict:
    """every parameter, x and encoder_output receive a non-zero gradient (random weighting of the output)"""
    block = randomize(make_block(cls, 16, 2, d_ff=24), _stream(seed, 300)).eval()
    data = report(block)
    x, enc, self_mask, cross_mask, weighting = _gradient_inputs(seed)
    x.requires_grad_()
    enc.requires_grad_()
    y = block(x, enc, self_mask, cross_mask)
    data["y"] = plain(y)
    data["requires_grad"] = isinstance(y, torch.Tensor) and y.requires_grad
    if data["requires_grad"]:
        (y * weighting).sum().backward()
    data["grads"] = {name: None if p.grad is None else plain(p.grad)
                     for name, p in block.named_parameters() if p.requires_grad}
    data["x_grad"], data["enc_grad"] = (None if t.grad is None else plain(t.grad) for t in (x, enc))
    return data


@block_judge(every_parameter_and_input_gets_a_gradient)
def _(data: dict, seed: int) -> None:
    """Every gradient must be non-zero. When the output IS the reference's (a right forward: the blocks whose
    gradients go missing unseen), every gradient must be the reference's too, so that gradients can only be
    reported by computing them. A block with a wrong forward is judged on the values checks, and here only on
    getting gradients, from data that nothing binds to this run (the output witness, follows_reference, was
    tried: a post-norm block's output fell below any threshold that tells other weights' outputs apart)."""
    expect(data["requires_grad"] is True,
           "the output does not require grad: is forward (or part of it) run under torch.no_grad()?")
    x, enc, self_mask, cross_mask, weighting = _gradient_inputs(seed)
    y = returned(data["y"], "the block's output", x.shape)
    ref = reference_block(data, _stream(seed, 300), 16).double()
    x_ref, enc_ref = x.double().requires_grad_(), enc.double().requires_grad_()
    expected = block_reference(ref, x_ref, enc_ref, self_mask, cross_mask, 2, 0.0, False)
    grads = data["grads"]
    missing = [name for name, g in grads.items() if not isinstance(g, torch.Tensor) or not bool(g.abs().sum() > 0)]
    expect(not missing, f"these parameters received no gradient: {missing} (unused, detached, or under no_grad?)")
    received = {"x": data["x_grad"], "encoder_output": data["enc_grad"]}
    for name, g in received.items():
        expect(isinstance(g, torch.Tensor) and bool(g.abs().sum() > 0),
               f"no gradient reached `{name}`: is it detached, or not used where it should be?")
    if not torch.allclose(y.double(), expected, rtol=RTOL, atol=ATOL):
        return
    (expected * weighting.double()).sum().backward()
    wanted = {"x": x_ref.grad, "encoder_output": enc_ref.grad}
    for ref_name, param in ref.named_parameters():  # a module shared by two attributes gets both gradients
        name = ref.names[ref_name]
        wanted[name] = param.grad if name not in wanted else wanted[name] + param.grad
    for name, g in wanted.items():
        got = received.get(name, grads.get(name))
        expect(got is not None, f"the parameter `{name}` is not learnable (requires_grad=False)")
        expect_close(got, g, f"the gradient of `{name}` (is part of the block detached?)", rtol=GRAD_RTOL,
                     atol=GRAD_ATOL)


DROPOUT_CASES = ((0.3, 310), (0.0, 320))


def _dropout_inputs(seed: int, stream: int):
    x, enc = _randn(2, 5, 16, seed=_stream(seed, stream + 1)), _randn(2, 6, 16, seed=_stream(seed, stream + 2))
    return x, enc, *our_masks(5, 6, True, None, [6, 4])


@block_probe("training")
def dropout_exactly_where_stated(cls, seed: int) -> dict:
    """in training mode, dropout(p) acts on the attention weights, each sublayer's output and inside the FFN only"""
    cases = []
    for p, stream in DROPOUT_CASES:
        block = randomize(make_block(cls, 16, 2, d_ff=24, dropout=p), _stream(seed, stream)).train()
        data = report(block)
        with torch.no_grad():
            torch.manual_seed(_stream(seed, stream + 3))  # the judge draws the same dropout masks from this seed
            data["call"] = call(block, _dropout_inputs(seed, stream))
        cases.append(data)
    return {"cases": cases}


@block_judge(dropout_exactly_where_stated)
def _(data: dict, seed: int) -> None:
    for (p, stream), case in zip(DROPOUT_CASES, data["cases"], strict=True):
        ref = reference_block(case, _stream(seed, stream), 16)
        inputs = _dropout_inputs(seed, stream)
        y = output(case["call"], inputs, f"training mode, dropout={p}")
        with torch.no_grad():
            torch.manual_seed(_stream(seed, stream + 3))  # the probe's seed: the same masks, drawn in forward order
            expected = block_reference(ref, *inputs, 2, p, True)
        expect(bool(torch.isfinite(y).all()) and bool(torch.allclose(y.float(), expected, rtol=RTOL, atol=ATOL)),
               f"in training mode with dropout={p} the output differs from x + Dropout(Sublayer(Norm(x))) with "
               f"dropout(p={p}) exactly where the API puts it (both attentions' weights via MultiHeadAttention("
               f"d_model, num_heads, dropout), after each sublayer, inside the FFN) and nowhere else")


EVAL_DROPOUT_SEEDS = (333, 334)


def _eval_inputs(seed: int):
    x, enc = _randn(2, 5, 16, seed=_stream(seed, 331)), _randn(2, 6, 16, seed=_stream(seed, 332))
    return x, enc, *our_masks(5, 6, True, None, [6, 3])


@block_probe("training")
def eval_mode_is_deterministic(cls, seed: int) -> dict:
    """in eval mode (dropout off) two calls give the same output, that of the block without dropout"""
    block = randomize(make_block(cls, 16, 2, dropout=0.5), _stream(seed, 330)).eval()
    data = report(block)
    data["calls"] = []
    with torch.no_grad():
        for stream in EVAL_DROPOUT_SEEDS:
            torch.manual_seed(_stream(seed, stream))
            data["calls"].append(call(block, _eval_inputs(seed)))
    return data


@block_judge(eval_mode_is_deterministic)
def _(data: dict, seed: int) -> None:
    inputs = _eval_inputs(seed)
    y1, y2 = (output(result, inputs, "eval mode") for result in data["calls"])
    expect(torch.equal(y1, y2), "in eval mode two calls gave different outputs: dropout must be off after "
                                ".eval() (F.dropout needs training=self.training; nn.Dropout does it for you)")
    ref = reference_block(data, _stream(seed, 330), 16).double()
    x, enc, self_mask, cross_mask = inputs
    with torch.no_grad():
        expected = block_reference(ref, x.double(), enc.double(), self_mask, cross_mask, 2, 0.5, False)
    expect_close(y1, expected, "eval mode output (no dropout anywhere)", rtol=RTOL, atol=ATOL)
