"""Judges of exercise 1's probes (lab/checks/decoder.py: what the notebook states is there): each rebuilds
the probe's inputs from the seed, rebuilds the student's block from the reported (and checked) weights, computes
the float64 reference (nn.TransformerDecoderLayer, or lab/judges/_block.py's `block_reference` where dropout
is drawn) and compares."""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from lab.checks import decoder as probes
from lab.checks._block import ROLES, _padding, _randn, _stream
from lab.checks.decoder import (ARGUMENTS, BATCHED_CASES, CAUSAL_CHANGES, CAUSAL_DIAGONAL_T, CAUSAL_POLARITY_T,
                                       ATTRIBUTE_SEEDS, CAUSAL_SHAPE_T, COUNT_SIZES, D_FF_CASES, DEFAULT_LENGTHS, DROPOUT_CASES,
                                       LENGTH_CASES, PADDING_POLARITY_CASES,
                                       PADDING_SHAPE_CASES, REAL_CHANGES, SHAPE_LENGTHS, SHAPE_STREAM, _shape_inputs, STEP_SIZE, TORCH_CASES, Case, _attribute_inputs, _count_inputs,
                                       _batch_order, _causal_inputs, _dropout_inputs, _eval_inputs, _gradient_inputs,
                                       _padded_inputs, _real_inputs, _unchanged_inputs)

from ._block import (ATOL, RTOL, _mha_reference, block_reference, ffn_linears, output, reference_block, returned,
                     torch_layer, torch_output)
from autograder.judging import CheckFailed, Judges, expect, expect_close

JUDGES = Judges(probes.GROUPS)
GRAD_RTOL, GRAD_ATOL = 1e-3, 1e-4  # float32 backward (sums over the batch) against a float64 one


def _returned_mask(value: object, call: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{call} should return a tensor, got {name}")
    return value


@JUDGES.judge(probes.causal_mask_shape_and_dtype)
def _(data: dict, seed: int) -> None:
    for T, mask in zip(CAUSAL_SHAPE_T, data["masks"], strict=True):
        mask = _returned_mask(mask, f"causal_mask({T})")
        expect(tuple(mask.shape) == (T, T), f"causal_mask({T}) has shape {tuple(mask.shape)}, expected ({T}, {T})")
        expect(mask.dtype == torch.bool, f"causal_mask({T}) has dtype {mask.dtype}, expected torch.bool")


@JUDGES.judge(probes.causal_mask_polarity)
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


@JUDGES.judge(probes.causal_mask_diagonal)
def _(data: dict, seed: int) -> None:
    for T, mask in zip(CAUSAL_DIAGONAL_T, data["masks"], strict=True):
        mask = _returned_mask(mask, f"causal_mask({T})")
        expect(mask.numel() == T * T, f"causal_mask({T}) should have {T * T} entries")
        diagonal = mask.reshape(T, T).bool().diagonal()
        expect(bool(diagonal.all()), f"in causal_mask({T}) a position may not attend to itself: the diagonal "
                                     f"should be True (position i sees positions 0..i, itself included)")


@JUDGES.judge(probes.padding_mask_shape_and_dtype)
def _(data: dict, seed: int) -> None:
    for (lengths, max_len), mask in zip(PADDING_SHAPE_CASES, data["masks"], strict=True):
        lengths = _batch_order(seed, lengths)
        mask = _returned_mask(mask, "padding_mask")
        expected = (len(lengths), 1, 1, max_len)
        expect(tuple(mask.shape) == expected,
               f"padding_mask(torch.tensor({lengths}), {max_len}) has shape {tuple(mask.shape)}, expected "
               f"{expected}: (batch, 1, 1, key length) broadcasts over heads and query positions")
        expect(mask.dtype == torch.bool, f"padding_mask has dtype {mask.dtype}, expected torch.bool")


@JUDGES.judge(probes.padding_mask_polarity)
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


@JUDGES.judge(probes.padding_mask_default_length)
def _(data: dict, seed: int) -> None:
    lengths = _batch_order(seed, DEFAULT_LENGTHS)
    mask = _returned_mask(data["mask"], "padding_mask")
    expect(tuple(mask.shape) == (3, 1, 1, 5),
           f"padding_mask(torch.tensor({lengths})) has shape {tuple(mask.shape)}, expected (3, 1, 1, 5): without "
           f"max_len the mask should be as long as the longest sequence")
    expect(torch.equal(mask.bool(), _padding(lengths, 5)),
           f"padding_mask(torch.tensor({lengths})) has the right shape but wrong values")


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

        return JUDGES.judge(check)(judged)

    return register


def judge_case(case: Case, data: dict, seed: int) -> None:
    """One comparison with nn.TransformerDecoderLayer, given the same (reported, checked) weights."""
    ref = reference_block(data, _stream(seed, case.stream), case.d_model, case.d_ff)
    inputs = case.inputs(seed)
    x, enc = inputs[:2]
    y = output(data["call"], inputs, case.what)
    expected = torch_output(torch_layer(ref, case.d_model, case.num_heads, case.d_ff), x, enc, case.causal,
                            case.lengths_t, case.lengths_s)
    expect_close(y, expected, case.what, rtol=RTOL, atol=ATOL)


def _judge_cases(cases, data: dict, seed: int) -> None:
    for case, case_data in zip(cases, data["cases"], strict=True):
        judge_case(case, case_data, seed)


@block_judge(probes.matches_torch_decoder_layer)
def _(data: dict, seed: int) -> None:
    _judge_cases(TORCH_CASES, data, seed)


@block_judge(probes.target_and_source_lengths_differ)
def _(data: dict, seed: int) -> None:
    _judge_cases(LENGTH_CASES, data, seed)


@block_judge(probes.batched_masks)
def _(data: dict, seed: int) -> None:
    _judge_cases(BATCHED_CASES, data, seed)


def expected_parameter_count(d_model: int, d_ff: int) -> int:
    attention = 4 * (d_model * d_model + d_model)
    ffn = d_model * d_ff + d_ff + d_ff * d_model + d_model
    return 2 * attention + ffn + 3 * 2 * d_model


def _distinct_roles(data: dict) -> None:
    names = data["roles"]
    for attr in ROLES:
        expect(isinstance(names[attr], str) and names[attr],
               f"`{attr}` is not a submodule registered on the block: assign the module to self.{attr} in __init__")
    expect(names["self_attn"] != names["cross_attn"], "self_attn and cross_attn must be two separate modules")
    expect(len({names[n] for n in ("norm1", "norm2", "norm3")}) == 3,
           "norm1, norm2 and norm3 must be three separate LayerNorms")


@block_judge(probes.attributes_as_stated)
def _(data: dict, seed: int) -> None:
    _distinct_roles(data)
    ref = reference_block(data, _stream(seed, ATTRIBUTE_SEEDS[0]), 32, 48).double()
    h, enc = (t.double() for t in _attribute_inputs(seed))
    out = data["outputs"]
    lin1, lin2 = ffn_linears(ref)
    with torch.no_grad():
        expected = {attr: getattr(ref, attr)(h) for attr in ("norm1", "norm2", "norm3")}
        expected["ffn"] = lin2(F.gelu(lin1(h)))
        expected["self_attn"] = _mha_reference(ref.self_attn, h, h, None, 4, 0.0, False)
        expected["cross_attn"] = _mha_reference(ref.cross_attn, h, enc, None, 4, 0.0, False)
        torch.manual_seed(_stream(seed, ATTRIBUTE_SEEDS[2]))
        expected["ffn_training"] = lin2(F.dropout(F.gelu(lin1(h)), 0.2, True))
        torch.manual_seed(_stream(seed, ATTRIBUTE_SEEDS[2] + 1))
        expected["dropout_training"] = F.dropout(h, 0.2, True)
    stated = {
        "norm1": "`norm1` should be an nn.LayerNorm(d_model) (PyTorch's default eps)",
        "norm2": "`norm2` should be an nn.LayerNorm(d_model) (PyTorch's default eps)",
        "norm3": "`norm3` should be an nn.LayerNorm(d_model) (PyTorch's default eps)",
        "ffn": "`ffn` should be Linear(d_model, d_ff) -> GELU -> Dropout -> Linear(d_ff, d_model)",
        "self_attn": "`self_attn` should be the provided MultiHeadAttention(d_model, num_heads, dropout)",
        "cross_attn": "`cross_attn` should be the provided MultiHeadAttention(d_model, num_heads, dropout)",
        "ffn_training": "in training mode, `ffn` should apply Dropout(dropout) after the GELU, and only there",
        "dropout_training": "`dropout` should be nn.Dropout(dropout)",
    }
    for attr, what in stated.items():
        expect_close(returned(out[attr], what, h.shape), expected[attr], what, rtol=RTOL, atol=ATOL)


@block_judge(probes.parameter_count)
def _(data: dict, seed: int) -> None:
    for (d_model, num_heads, d_ff), case in zip(COUNT_SIZES, data["cases"], strict=True):
        expected = expected_parameter_count(d_model, d_ff)
        count = case["count"]
        expect(isinstance(count, int) and count == expected,
               f"TransformerDecoderBlock({d_model}, {num_heads}, d_ff={d_ff}) has {count} learnable parameters, "
               f"expected {expected}: two separate attentions, an FFN with biases, three separate LayerNorms")
        ref = reference_block(case, _stream(seed, 420 + d_model), d_model, d_ff).double()
        x, enc, weighting = (t.double() for t in _count_inputs(seed, d_model))
        (block_reference(ref, x, enc, None, None, num_heads, 0.0, False) * weighting).sum().backward()
        with torch.no_grad():
            for param in ref.parameters():
                param -= STEP_SIZE * param.grad
            stepped = block_reference(ref, x, enc, None, None, num_heads, 0.0, False)
        what = (f"TransformerDecoderBlock({d_model}, {num_heads}, d_ff={d_ff}) after one gradient step on its "
                "parameters (does forward use every parameter the block lists, and only those?)")
        expect_close(returned(case["stepped"], what, x.shape), stepped, what, rtol=1e-3, atol=1e-4)


@block_judge(probes.d_ff_default_and_argument)
def _(data: dict, seed: int) -> None:
    for i, ((d_model, kwargs, d_ff), case) in enumerate(zip(D_FF_CASES, data["cases"], strict=True)):
        call = f"TransformerDecoderBlock({d_model}, 4{''.join(f', {k}={v}' for k, v in kwargs.items())})"
        ref = reference_block(case, _stream(seed, 430 + i), d_model)
        lin1, lin2 = ffn_linears(ref)
        expect(lin1.weight.shape[0] == d_ff, f"{call} has an FFN hidden width of {lin1.weight.shape[0]}, "
                                            f"expected {d_ff}")
        h = _randn(3, d_model, seed=_stream(seed, 435 + i)).double()
        with torch.no_grad():
            expected = lin2.double()(F.gelu(lin1.double()(h)))
        expect_close(returned(case["ffn"], f"{call}.ffn", h.shape), expected, f"{call}.ffn", rtol=RTOL, atol=ATOL)


@block_judge(probes.output_shape_with_different_lengths)
def _(data: dict, seed: int) -> None:
    for (T, S), y in zip(SHAPE_LENGTHS, data["outputs"], strict=True):
        y = returned(y, f"target length {T}, source length {S}")
        expect(tuple(y.shape) == (3, T, 32),
               f"target length {T}, source length {S}: output shape {tuple(y.shape)}, expected (3, {T}, 32)")
        expect(y.dtype == torch.float32, f"output dtype {y.dtype}, expected x's torch.float32")
    # the outputs themselves: shapes and dtypes alone are what made-up data has (issue 20)
    ref = reference_block(data, _stream(seed, SHAPE_STREAM), 32).double()
    for (T, S), y in zip(SHAPE_LENGTHS, data["outputs"], strict=True):
        x, enc, self_mask, cross_mask = _shape_inputs(seed, T, S)
        with torch.no_grad():
            expected = block_reference(ref, x.double(), enc.double(), self_mask, cross_mask, 4, 0.0, False)
        expect_close(y, expected, f"target length {T}, source length {S} (the outputs themselves, compared with "
                     "the reference)", rtol=RTOL, atol=ATOL)


@block_judge(probes.inputs_left_unchanged)
def _(data: dict, seed: int) -> None:
    for name, now, then in zip(ARGUMENTS, data["after"], _unchanged_inputs(seed), strict=True):
        expect(isinstance(now, torch.Tensor) and now.dtype == then.dtype and torch.equal(now, then),
               f"forward changed its argument `{name}` in place (e.g. `x += ...`): write `x = x + ...` instead")
    # the output itself: inputs sent back unchanged are what made-up data has (issue 20)
    x, enc, self_mask, cross_mask = _unchanged_inputs(seed)
    ref = reference_block(data, _stream(seed, 60), 16).double()
    with torch.no_grad():
        expected = block_reference(ref, x.double(), enc.double(), self_mask, cross_mask, 2, 0.0, False)
    expect_close(returned(data["y"], "the block's output", x.shape), expected,
                 "the block's output (compared with the reference)", rtol=RTOL, atol=ATOL)


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
    """The outputs of a property check's calls, once their inputs are unchanged and each output IS the
    reference's for the same inputs and weights. Comparing the outputs with each other alone is not enough: a block
    that remembers what it returned (keyed by the input's prefix, say) can replay earlier outputs so that a change
    at later positions seems to change nothing, while it computes without the mask (issue 20). So a block passes
    the masking checks only by computing the masked function; the property messages come first, to say which mask
    is wrong."""
    outputs = [output(result, inputs, what) for result, inputs in zip(data["calls"], inputs_list, strict=True)]
    return outputs


def _values_are_the_reference(outputs: list, data: dict, seed: int, stream: int, inputs_list: list, what: str) -> None:
    for y, expected in zip(outputs, _reference_outputs(data, seed, stream, 4, inputs_list), strict=True):
        expect_close(y, expected, f"{what} (the outputs themselves, compared with the masked reference)",
                     rtol=RTOL, atol=ATOL)


@block_judge(probes.self_attention_is_causal)
def _(data: dict, seed: int) -> None:
    y, *changed = _property_outputs(data, seed, 200, _causal_inputs(seed), "a causal self_mask")
    for t, y2 in zip(CAUSAL_CHANGES, changed, strict=True):
        expect(torch.allclose(y[:, :t], y2[:, :t], rtol=1e-5, atol=1e-5),
               f"changing target positions {t}.. changed the output at an earlier position: with a causal "
               f"self_mask, position i may only see positions 0..i")
        expect(not torch.allclose(y[:, t], y2[:, t], rtol=1e-4, atol=1e-4),
               f"changing target position {t} did not change its own output")
    _values_are_the_reference([y, *changed], data, seed, 200, _causal_inputs(seed), "a causal self_mask")


@block_judge(probes.padded_source_positions_ignored)
def _(data: dict, seed: int) -> None:
    y, y2 = _property_outputs(data, seed, 210, _padded_inputs(seed), "a padded encoder output")
    expect(torch.allclose(y, y2, rtol=1e-5, atol=1e-5),
           "changing the encoder output at PADDED positions changed the block's output: cross_mask (True = real "
           "token) must keep the cross-attention away from padding")
    _values_are_the_reference([y, y2], data, seed, 210, _padded_inputs(seed), "a padded encoder output")


@block_judge(probes.every_real_source_position_matters)
def _(data: dict, seed: int) -> None:
    y, *changed = _property_outputs(data, seed, 220, _real_inputs(seed), "a changed encoder position")
    for (b, s), y2 in zip(REAL_CHANGES, changed, strict=True):
        moved = (y2[b] - y[b]).abs().amax(-1) > 1e-4
        expect(bool(moved.all()),
               f"changing encoder position {s} (a real token) left the output at target position(s) "
               f"{(~moved).nonzero().flatten().tolist()} unchanged: every target position may attend to "
               f"every real encoder position (the cross-attention is not causal)")
    _values_are_the_reference([y, *changed], data, seed, 220, _real_inputs(seed), "a changed encoder position")


@block_judge(probes.every_parameter_and_input_gets_a_gradient)
def _(data: dict, seed: int) -> None:
    """Every gradient must be non-zero, the output must be the reference's and every gradient the reference's too,
    so that gradients can only be reported by computing them. A block with a wrong forward used to be judged here
    only on getting non-zero gradients, which made-up data has (a block under no_grad whose probe claimed gradients
    of ones passed: issue 20, tests/adversarial/cases/decoder_forged_gradients.py): nothing binds a wrong
    forward's gradients to this run, so such a block gets no point here (the values checks say what is wrong)."""
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
    expect_close(y, expected.detach(), "the block's output (its gradients are judged against the reference's, "
                 "which needs the reference's output)", rtol=RTOL, atol=ATOL)
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


@block_judge(probes.dropout_exactly_where_stated)
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


@block_judge(probes.eval_mode_is_deterministic)
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

