"""Judges of exercise 4b's probes (lab/checks/kv_cache.py): each rebuilds the probe's models and prompts from
the seed and computes, in float64, the logits of the model's own forward over the returned tokens (teacher forcing):
the one forward of these models is here. For a drifting model that forward projects position p with W + p * D,
which is what decoding with a KV cache computes and what nothing else does. Every step's logits must match, and
every new token must be the argmax of its step's logits: together, by induction from the prompt, they pin the whole
greedy sequence, so data recorded for another seed or made up fails."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lab.checks import kv_cache as probes
from lab.checks.kv_cache import (CASES, DROPOUT, GRADIENTS, GREEDY, STOP_LENGTHS, VOCAB, ProbeLinear, _mix,
                                        build_model, case_model, case_prompt, grad_after_inputs, prompt)

from autograder.judging import CheckFailed, Judges, expect, expect_close

JUDGES = Judges(probes.GROUPS)
# float32 through a few layers, computed in a different order (one position at a time against the whole
# sequence at once): differences of ~1e-6 are rounding, a real mistake changes logits by ~1e-1.
RTOL, ATOL = 1e-4, 1e-5


def _linear(module, x: torch.Tensor, positions: torch.Tensor, grad_on: bool) -> torch.Tensor:
    y = F.linear(x, module.weight.double(), module.bias.double())
    if isinstance(module, ProbeLinear):
        if module.drift is not None:
            y = y + positions.double()[:, None] * F.linear(x, module.drift.double())
        if module.grad_shift is not None and grad_on:
            y = y + module.grad_shift.double()
    return y


def _rms(x: torch.Tensor, norm) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * norm.weight.double()


def reference_logits(model, tokens: torch.Tensor, grad_on: bool = False) -> torch.Tensor:
    """The logits (batch, T, vocab) of the whole sequence in one causal forward, in float64, eval mode."""
    tokens = tokens.long()
    B, T = tokens.shape
    positions = torch.arange(T)
    with torch.no_grad():
        x = model.tok_emb.weight.double()[tokens] + model.pos_emb.weight.double()[positions]
        allowed = torch.ones(T, T, dtype=torch.bool).tril()
        for layer in model.layers:
            attn = layer.self_attn
            H, dk = attn.num_heads, attn.d_k
            h = _rms(x, layer.norm1)

            def heads(t):
                return t.view(B, T, H, dk).transpose(1, 2)

            q, k, v = (heads(_linear(getattr(attn, w), h, positions, grad_on)) for w in ("W_q", "W_k", "W_v"))
            scores = (q @ k.transpose(-2, -1) / math.sqrt(dk)).masked_fill(~allowed, float("-inf"))
            out = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, H * dk)
            x = x + F.linear(out, attn.W_o.weight.double(), attn.W_o.bias.double())
            lin1, lin2 = layer.ffn[0], layer.ffn[3]
            hidden = F.gelu(F.linear(_rms(x, layer.norm2), lin1.weight.double(), lin1.bias.double()))
            x = x + F.linear(hidden, lin2.weight.double(), lin2.bias.double())
        return F.linear(_rms(x, model.final_norm), model.head.weight.double())


def expect_result_form(tokens, step_logits, batch: int, length: int, n: int) -> None:
    expect(tuple(tokens.shape) == (batch, length + n),
           f"with a prompt of shape {(batch, length)} and num_new_tokens={n}, tokens should have shape "
           f"{(batch, length + n)}, got {tuple(tokens.shape)}")
    expect(tuple(step_logits.shape) == (batch, n, VOCAB),
           f"step_logits should have shape (batch, num_new_tokens, vocab) = {(batch, n, VOCAB)}, "
           f"got {tuple(step_logits.shape)}")
    expect(not tokens.dtype.is_floating_point and not tokens.dtype.is_complex and tokens.dtype != torch.bool,
           f"tokens should be integer token ids, got {tokens.dtype}")
    expect(bool(((tokens >= 0) & (tokens < VOCAB)).all()), "tokens should be token ids of the vocabulary")
    expect(step_logits.dtype.is_floating_point, f"step_logits should be floating point, got {step_logits.dtype}")


def checked_run(run, prompt_tokens: torch.Tensor, n: int):
    """(tokens, step_logits) of a reported call, its form checked."""
    expect(run["tokens"] is not None, f"generate should return a pair (tokens, step_logits), got {run['type']}")
    tokens, step_logits = run["tokens"], run["step_logits"]
    expect(isinstance(tokens, torch.Tensor) and isinstance(step_logits, torch.Tensor),
           "generate should return two tensors (tokens, step_logits)")
    expect(isinstance(run["prompt"], torch.Tensor) and torch.equal(run["prompt"], prompt_tokens),
           "generate changed the prompt it was given")
    batch, length = prompt_tokens.shape
    expect_result_form(tokens, step_logits, batch, length, n)
    expect(torch.equal(tokens[:, :length].long(), prompt_tokens), "tokens should begin with the prompt, unchanged")
    return tokens.long(), step_logits


def expect_teacher_forced(model, tokens, step_logits, length: int, what: str, hint: str) -> None:
    """The first step's logits come from the prompt alone (no cache read: they tie the data to this seed's model and
    prompt); the later ones must equal the model's forward over the returned tokens."""
    expected = reference_logits(model, tokens[:, :-1])[:, length - 1:]
    expect_close(step_logits[:, :1], expected[:, :1], f"{what}: the logits of the first new token (from the "
                 "prompt alone)", rtol=RTOL, atol=ATOL)
    expect_close(step_logits, expected, f"{what}: the logits of the later steps {hint}", rtol=RTOL, atol=ATOL)


def expect_greedy(tokens, step_logits, length: int) -> None:
    expect(torch.equal(tokens[:, length:], step_logits.argmax(-1)),
           "each new token should be the argmax of its step's logits (greedy decoding, no sampling)")


def _describe(case) -> str:
    _, layers, _, _, _, batch, length, n = case
    return f"{layers}-layer model, batch of {batch}, prompt of {length} token(s), {n} new tokens"


@JUDGES.judge(probes.step_logits_match_teacher_forcing)
def _(data: dict, seed: int) -> None:
    for run, case in zip(data["runs"], CASES, strict=True):
        tokens, step_logits = checked_run(run, case_prompt(seed, case, False), case[-1])
        expect_teacher_forced(case_model(seed, case, False), tokens, step_logits, case[-2], _describe(case),
                              "(from the cache) differ from the model's own forward on the same tokens")
        expect_greedy(tokens, step_logits, case[-2])


@JUDGES.judge(probes.tokens_are_the_greedy_choices)
def _(data: dict, seed: int) -> None:
    model_stream, prompt_stream, batch, length, n = GREEDY
    tokens, step_logits = checked_run(data, prompt(_mix(seed, prompt_stream), batch, length), n)
    expected = reference_logits(build_model(_mix(seed, model_stream)), tokens[:, :length])[:, -1]
    expect_close(step_logits[:, 0], expected, f"a 2-layer model, prompt of {length} tokens: the logits of the "
                 "first new token (from the prompt alone)", rtol=RTOL, atol=ATOL)
    expect_greedy(tokens, step_logits, length)


@JUDGES.judge(probes.stops_at_the_requested_length)
def _(data: dict, seed: int) -> None:
    model, start = build_model(_mix(seed, 4)), prompt(_mix(seed, 14), 2, 3)
    expected = reference_logits(model, start)[:, -1]
    for run, n in zip(data["runs"], STOP_LENGTHS, strict=True):
        _, step_logits = checked_run(run, start, n)
        expect_close(step_logits[:, 0], expected, f"prompt of 3 tokens, {n} new token(s): the logits of the first "
                     "new token", rtol=RTOL, atol=ATOL)


@JUDGES.judge(probes.calls_are_independent)
def _(data: dict, seed: int) -> None:
    second, model = prompt(_mix(seed, 16), 2, 2), build_model(_mix(seed, 5))
    alone_tokens, alone_logits = checked_run(data["alone"], second, 4)
    expect_teacher_forced(model, alone_tokens, alone_logits, 2, "a call on a fresh model", "differ from the "
                          "model's own forward on the same tokens")
    checked_run(data["first"], prompt(_mix(seed, 15), 3, 4), 5)
    tokens, step_logits = checked_run(data["second"], second, 4)
    expect(torch.equal(tokens, alone_tokens) and torch.allclose(step_logits, alone_logits, rtol=RTOL, atol=ATOL),
           "a second call of generate on the same model gave other results than the same call on a fresh model: "
           "is something of the first call (its cache) kept and reused?")


@JUDGES.judge(probes.each_position_projected_once)
def _(data: dict, seed: int) -> None:
    for run, case in zip(data["runs"], CASES, strict=True):
        tokens, step_logits = checked_run(run, case_prompt(seed, case, True), case[-1])
        expect_greedy(tokens, step_logits, case[-2])
        try:
            expect_teacher_forced(case_model(seed, case, True), tokens, step_logits, case[-2],
                                  f"{_describe(case)}, projections that change with every position they process",
                                  "are not those of decoding with a KV cache")
        except CheckFailed as exc:
            raise CheckFailed(f"{exc}. The test's query, key and value projections change slightly with every "
                              "position they have processed, so only decoding that sends each position through "
                              "each layer's projections once, in order (the whole batch at once), gives the "
                              "expected logits: is the prefix recomputed at each step, a cached position "
                              "projected again, or the batch run row by row?") from None


@JUDGES.judge(probes.dropout_is_off_while_generating)
def _(data: dict, seed: int) -> None:
    model_stream, prompt_stream, batch, length, n = DROPOUT
    tokens, step_logits = checked_run(data, prompt(_mix(seed, prompt_stream), batch, length), n)
    expect_teacher_forced(build_model(_mix(seed, model_stream), dropout=0.5), tokens, step_logits, length,
                          "a model given in training mode with dropout 0.5 (is dropout active while generating? "
                          "switch the model to eval mode)", "differ from the eval-mode model's")


@JUDGES.judge(probes.gradients_off_while_generating_and_on_after)
def _(data: dict, seed: int) -> None:
    model_stream, prompt_stream, batch, length, n = GRADIENTS
    model = build_model(_mix(seed, model_stream), grad_shift=True)
    tokens, step_logits = checked_run(data, prompt(_mix(seed, prompt_stream), batch, length), n)
    with_grad = reference_logits(model, tokens[:, :-1], grad_on=True)[:, length - 1:]
    if torch.allclose(step_logits.double(), with_grad, rtol=RTOL, atol=ATOL):
        raise CheckFailed("the logits are those of a model run with gradients enabled: generate should run under "
                          "torch.no_grad() (a cache kept with gradients on keeps every step's graph alive)")
    expect_teacher_forced(model, tokens, step_logits, length, "a 2-layer model", "differ from the model's own "
                          "forward on the same tokens (with gradients off)")
    expect_greedy(tokens, step_logits, length)
    grad = data["grad_after"]
    expect(grad is not None, "after generate returned, gradients were still off (or the model's parameters no "
                             "longer require grad): use `with torch.no_grad():`, which switches them back on, so "
                             "that training can go on after generating")
    after_tokens, weights = grad_after_inputs(seed)
    expected = torch.zeros(VOCAB, 16, dtype=torch.float64).index_add_(0, after_tokens.flatten(),
                                                                      weights.reshape(-1, 16).double())
    expect_close(grad, expected, "a gradient computed after generate returned", rtol=1e-5, atol=1e-6)
