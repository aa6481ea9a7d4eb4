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

Every check is judged outside the student's process (see autograder/probing.py): its probe builds the inputs from the seed,
calls the student's code and returns plain data; its judge rebuilds the same inputs, computes the reference itself
and compares. How the block's probes report its weights, and how the judge rebuilds the block, is in _block.py.
"""
from __future__ import annotations

import dataclasses
import functools

import torch

from ._block import _causal, _padding, _randn, _stream, call, make_block, our_masks, randomize, report
from autograder.probing import CheckGroups, plain

GROUPS = CheckGroups()
probe = GROUPS.probe


# --- 1a: mask helpers (judged outside the kernel: the probe reports the masks, the judge inspects them) -----------


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


CAUSAL_POLARITY_T = (3, 7)


@probe("causal_mask")
def causal_mask_polarity(causal_mask, seed: int) -> dict:
    """True where a position may attend (earlier positions), False for every later position"""
    return {"masks": [plain(causal_mask(T)) for T in CAUSAL_POLARITY_T]}


CAUSAL_DIAGONAL_T = (1, 5)


@probe("causal_mask")
def causal_mask_diagonal(causal_mask, seed: int) -> dict:
    """every position may attend to itself (the diagonal is True), also for T = 1"""
    return {"masks": [plain(causal_mask(T)) for T in CAUSAL_DIAGONAL_T]}


def _call_padding(padding_mask, lengths: list[int], max_len=None) -> object:
    tensor = torch.tensor(lengths)
    return plain(padding_mask(tensor) if max_len is None else padding_mask(tensor, max_len))


PADDING_SHAPE_CASES = (([3, 1, 4], 6), ([2], 2), ([5, 5], 7))


@probe("padding_mask")
def padding_mask_shape_and_dtype(padding_mask, seed: int) -> dict:
    """padding_mask(lengths, max_len) is a bool tensor of shape (batch, 1, 1, max_len)"""
    return {"masks": [_call_padding(padding_mask, _batch_order(seed, lengths), max_len)
                      for lengths, max_len in PADDING_SHAPE_CASES]}


PADDING_POLARITY_CASES = (([3, 1, 4, 6], 6), ([2, 7], 9))


@probe("padding_mask")
def padding_mask_polarity(padding_mask, seed: int) -> dict:
    """True exactly at the real tokens (position < length), False at the padding"""
    return {"masks": [_call_padding(padding_mask, _batch_order(seed, lengths), max_len)
                      for lengths, max_len in PADDING_POLARITY_CASES]}


DEFAULT_LENGTHS = [2, 5, 3]


@probe("padding_mask")
def padding_mask_default_length(padding_mask, seed: int) -> dict:
    """padding_mask(lengths) pads to the largest length"""
    return {"mask": _call_padding(padding_mask, _batch_order(seed, DEFAULT_LENGTHS))}


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



def _probe_cases(cases, cls, seed: int) -> dict:
    return {"cases": [case.probe(cls, seed) for case in cases]}


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


LENGTH_CASES = (
    Case("target length 4, source 9", 32, 4, 64, 4, 9, None, (9, 6, 2), True, 130),
    Case("target length 9, source 3", 32, 4, 64, 9, 3, None, (3, 1), True, 140),
)


@block_probe("values")
def target_and_source_lengths_differ(cls, seed: int) -> dict:
    """equals the torch layer when the target and the encoder output have different lengths"""
    return _probe_cases(LENGTH_CASES, cls, seed)


BATCHED_CASES = (Case("self_mask (batch, 1, T, T), cross_mask (batch, 1, 1, S)", 32, 4, 48, 7, 5, (7, 3, 5),
                      (5, 2, 4), True, 150),)


@block_probe("values")
def batched_masks(cls, seed: int) -> dict:
    """per-sequence masks: a (batch, 1, T, T) self-mask (causal and target padding) and a (batch, 1, 1, S) one"""
    return _probe_cases(BATCHED_CASES, cls, seed)


# --- 1b: API --------------------------------------------------------------------------------------------------


ATTRIBUTE_SEEDS = (401, 402, 403)  # streams: the weights, the inputs, the dropout masks


def _attribute_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _randn(2, 5, 32, seed=_stream(seed, 404)), _randn(2, 6, 32, seed=_stream(seed, 405))


@block_probe("api")
def attributes_as_stated(cls, seed: int) -> dict:
    """each attribute the API names is a separate module computing what the API states (random weights)"""
    block = randomize(make_block(cls, 32, 4, d_ff=48, dropout=0.2), _stream(seed, ATTRIBUTE_SEEDS[0]))
    data = report(block)
    h, enc = _attribute_inputs(seed)
    outputs = {}
    with torch.no_grad():
        block.eval()
        for attr in ("norm1", "norm2", "norm3", "ffn"):
            outputs[attr] = plain(getattr(block, attr)(h))
        outputs["self_attn"] = plain(block.self_attn(h, h, h))
        outputs["cross_attn"] = plain(block.cross_attn(h, enc, enc))
        block.train()
        for i, attr in enumerate(("ffn", "dropout")):  # where their dropout draws its masks
            torch.manual_seed(_stream(seed, ATTRIBUTE_SEEDS[2] + i))
            outputs[f"{attr}_training"] = plain(getattr(block, attr)(h))
    data["outputs"] = outputs
    return data


COUNT_SIZES = ((32, 4, 48), (24, 2, 40))
STEP_SIZE = 0.1


def _count_inputs(seed: int, d_model: int):
    x, enc = _randn(2, 4, d_model, seed=_stream(seed, 410 + d_model)), _randn(2, 5, d_model, seed=_stream(seed, 411))
    return x, enc, _randn(2, 4, d_model, seed=_stream(seed, 412))


@block_probe("api")
def parameter_count(cls, seed: int) -> dict:
    """the learnable parameters are those of the API (two attentions, the FFN, three LayerNorms), all used"""
    cases = []
    for d_model, num_heads, d_ff in COUNT_SIZES:
        block = randomize(make_block(cls, d_model, num_heads, d_ff=d_ff), _stream(seed, 420 + d_model)).eval()
        data = report(block)
        params = [p for p in block.parameters() if p.requires_grad]
        data["count"] = sum(p.numel() for p in params)
        x, enc, weighting = _count_inputs(seed, d_model)
        # what the block lists as its parameters must be what it computes with: one gradient step on each of them
        (block(x, enc) * weighting).sum().backward()
        with torch.no_grad():
            for param in params:
                if param.grad is not None:
                    param -= STEP_SIZE * param.grad
            data["stepped"] = plain(block(x, enc))
        cases.append(data)
    return {"cases": cases}


D_FF_CASES = ((16, {}, 64), (24, {"d_ff": 40}, 40), (24, {"d_ff": None}, 96))


@block_probe("api")
def d_ff_default_and_argument(cls, seed: int) -> dict:
    """d_ff defaults to 4 * d_model and is used when given"""
    cases = []
    for i, (d_model, kwargs, _) in enumerate(D_FF_CASES):
        block = randomize(make_block(cls, d_model, 4, **kwargs), _stream(seed, 430 + i)).eval()
        data = report(block)
        with torch.no_grad():
            data["ffn"] = plain(block.ffn(_randn(3, d_model, seed=_stream(seed, 435 + i))))
        cases.append(data)
    return {"cases": cases}


SHAPE_LENGTHS = ((5, 9), (8, 3), (1, 4))
SHAPE_STREAM = 70  # the weights (the judge compares the outputs with the reference's: issue 20)


def _shape_inputs(seed: int, T: int, S: int):
    x, enc = _randn(3, T, 32, seed=_stream(seed, T)), _randn(3, S, 32, seed=_stream(seed, S + 50))
    return x, enc, *our_masks(T, S, True, None, [S, max(1, S - 2), 1])


@block_probe("api")
def output_shape_with_different_lengths(cls, seed: int) -> dict:
    """forward returns a tensor of x's shape and dtype, also when target and source lengths differ"""
    block = randomize(make_block(cls, 32, 4), _stream(seed, SHAPE_STREAM)).eval()
    data = report(block)
    with torch.no_grad():
        data["outputs"] = [plain(block(*_shape_inputs(seed, T, S))) for T, S in SHAPE_LENGTHS]
    return data


def _unchanged_inputs(seed: int):
    x, enc = _randn(2, 5, 16, seed=_stream(seed, 61)), _randn(2, 7, 16, seed=_stream(seed, 62))
    return x, enc, *our_masks(5, 7, True, None, [7, 4])


ARGUMENTS = ("x", "encoder_output", "self_mask", "cross_mask")


@block_probe("api")
def inputs_left_unchanged(cls, seed: int) -> dict:
    """forward does not modify x, encoder_output or the masks"""
    block = randomize(make_block(cls, 16, 2), _stream(seed, 60)).eval()
    data = report(block)
    arguments = _unchanged_inputs(seed)
    with torch.no_grad():
        data["y"] = plain(block(*arguments))
    data["after"] = [plain(t) for t in arguments]
    return data


# --- 1b: masking ----------------------------------------------------------------------------------------------
#
# Property checks: the judge compares the outputs for two inputs with each other, and requires each of them to be
# the masked reference's output for the same inputs and weights.


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


# --- 1b: training ---------------------------------------------------------------------------------------------


def _gradient_inputs(seed: int):
    """x, encoder_output, the masks and a random weighting of the outputs."""
    x, enc = _randn(2, 5, 16, seed=_stream(seed, 301)), _randn(2, 6, 16, seed=_stream(seed, 302))
    return x, enc, *our_masks(5, 6, True, None, [6, 4]), _randn(2, 5, 16, seed=_stream(seed, 303))




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


