"""Hidden checks for exercise 4a, greedy generation with a KV cache.

What the notebook states, and so all these checks rely on: `generate(model, prompt, num_new_tokens)` takes a
provided `TinyLM`, a prompt (batch, P) of token ids (P >= 1) and n >= 1 with P + n <= model.max_len, and returns
`(tokens, step_logits)`: tokens (batch, P + n), the prompt followed by the n greedily chosen tokens; step_logits
(batch, n, vocab), step_logits[:, i] the logits the i-th new token was chosen from (its argmax). It runs the model
in eval mode without gradients; the prompt goes through the model in one call, then each step runs only the newest
token, its keys and values appended to every layer's cache; every attention is computed with the block's
`attn.project` / `attn.attend` (so the checks can see, per call, how many queries and keys each layer attended
with). The cache's format is the student's choice.

The checks build their own small models from the provided code with random weights (random RMSNorm scales too:
ones hide mistakes), never the student's trained model, and leave the global random number generator as they found
it (their seeds are local; CheckGroups also runs every group in isolated_state). Teacher-forced logits are the
model's own forward on the generated tokens.

Judged outside the kernel (probe + judge, see _core.py): the values group, and the cache group's eval-mode witness
(dropout_is_off_while_generating). The judge rebuilds the seed's models and prompts and computes the logits
itself; every call's first-step logits (from the prompt alone, no cache read) tie the reported data to this run.
Guarded: the attention-call counts (one new position per step, the cache growing by one, eval mode and no
gradients as seen inside `attend`), observable only in the kernel.
"""
from __future__ import annotations

import torch

from autograder.provided import as_in_notebook
from autograder.provided.attention import MultiHeadAttention

from ._core import CheckGroups, expect, expect_close, plain

GROUPS = CheckGroups()
check = GROUPS.check
probe = GROUPS.probe

TinyLM = as_in_notebook("tiny_lm.py", {"MultiHeadAttention": MultiHeadAttention})["TinyLM"]
VOCAB, MAX_LEN = 7, 12
# float32 through a few layers, computed in a different order (one position at a time against the whole
# sequence at once): differences of ~1e-6 are rounding, a real mistake changes logits by ~1e-1.
RTOL, ATOL = 1e-4, 1e-5


def build_model(seed: int, num_layers: int = 2, d_model: int = 16, num_heads: int = 2, dropout: float = 0.0,
                tie_weights: bool = False):
    """A small TinyLM with random weights, RMSNorm scales included, in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyLM(VOCAB, MAX_LEN, d_model=d_model, num_heads=num_heads, num_layers=num_layers,
                       dropout=dropout, tie_weights=tie_weights)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                    param.copy_(0.5 + torch.rand_like(param))
    return model.eval()


def prompt(seed: int, batch: int, length: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


class AttendLog:
    """Records every call of each block's attn.attend: (layer, queries, keys, training, gradients enabled)."""

    def __init__(self, model):
        self.calls: list[tuple[int, int, int, bool, bool]] = []
        for layer, block in enumerate(model.blocks):
            block.attn.attend = self._recording(layer, block.attn, block.attn.attend)

    def _recording(self, layer, module, original):
        def attend(q, k, v, mask=None):
            self.calls.append((layer, q.shape[-2], k.shape[-2], module.training, torch.is_grad_enabled()))
            return original(q, k, v, mask)

        return attend

    def of_layer(self, layer: int) -> list[tuple[int, int]]:
        return [(q, k) for lay, q, k, _, _ in self.calls if lay == layer]


def expect_result_form(tokens: torch.Tensor, step_logits: torch.Tensor, batch: int, length: int, n: int) -> None:
    """The shapes and dtype of what generate returned, for a prompt of shape (batch, length) and n new tokens."""
    expect(tuple(tokens.shape) == (batch, length + n),
           f"with a prompt of shape {(batch, length)} and num_new_tokens={n}, tokens should have shape "
           f"{(batch, length + n)}, got {tuple(tokens.shape)}")
    expect(tuple(step_logits.shape) == (batch, n, VOCAB),
           f"step_logits should have shape (batch, num_new_tokens, vocab) = {(batch, n, VOCAB)}, "
           f"got {tuple(step_logits.shape)}")
    expect(not tokens.dtype.is_floating_point, f"tokens should be integer token ids, got {tokens.dtype}")


def run_generate(generate, model, prompt_tokens, n):
    """The student's generate, its result's form checked; returns (tokens, step_logits)."""
    before = prompt_tokens.clone()
    result = generate(model, prompt_tokens, n)
    expect(isinstance(result, tuple) and len(result) == 2,
           f"generate should return a pair (tokens, step_logits), got {type(result).__name__}")
    tokens, step_logits = result
    batch, length = prompt_tokens.shape
    expect(isinstance(tokens, torch.Tensor) and isinstance(step_logits, torch.Tensor),
           "generate should return two tensors (tokens, step_logits)")
    expect(torch.equal(prompt_tokens, before), "generate changed the prompt it was given")
    expect_result_form(tokens, step_logits, batch, length, n)
    return tokens, step_logits


def teacher_forced_logits(model, tokens, prompt_length):
    """The model's logits at the positions that chose the new tokens, with the whole sequence in one forward."""
    with torch.no_grad():
        return model.eval()(tokens[:, :-1].long())[:, prompt_length - 1:]


CASES = [  # (model seed, layers, d_model, heads, tie_weights, batch, prompt length, new tokens)
    (0, 2, 16, 2, False, 2, 3, 5),
    (1, 3, 24, 4, True, 1, 1, 6),
    (2, 1, 16, 4, False, 3, 5, 7),  # P + n = MAX_LEN: the whole context
]


# --- reading what the student's generate returned (untrusted: anything malformed fails the check) -------------

def _mix(seed: int, stream: int) -> int:
    """A generator seed for one model or prompt of one grading seed (seed 0, the unit tests': the stream itself)."""
    return (seed * 1_000_003 + stream) % 2**63


def generated(generate, model, prompt_tokens, n) -> dict:
    """What a probe reports of one call of the student's generate: what it returned, and the prompt after the call."""
    given = prompt_tokens.clone()
    result = generate(model, given, n)
    pair = isinstance(result, tuple) and len(result) == 2
    return {"type": type(result).__name__, "tokens": plain(result[0]) if pair else None,
            "step_logits": plain(result[1]) if pair else None, "prompt": plain(given)}


def checked_run(run: dict, prompt_tokens: torch.Tensor, n: int):
    """(tokens, step_logits) of a reported call, its form checked as run_generate checks it."""
    expect(run["tokens"] is not None, f"generate should return a pair (tokens, step_logits), got {run['type']}")
    tokens, step_logits = run["tokens"], run["step_logits"]
    batch, length = prompt_tokens.shape
    expect(isinstance(tokens, torch.Tensor) and isinstance(step_logits, torch.Tensor),
           "generate should return two tensors (tokens, step_logits)")
    expect(isinstance(run["prompt"], torch.Tensor) and torch.equal(run["prompt"], prompt_tokens),
           "generate changed the prompt it was given")
    expect_result_form(tokens, step_logits, batch, length, n)
    return tokens, step_logits


def first_step_matches(model, prompt_tokens, step_logits, what: str) -> None:
    """The first new token's logits come from the prompt alone, with no cache read: every generate, right or wrong
    in its cache, gets them right, and they tie the reported data to this seed's model and prompt."""
    with torch.no_grad():
        expected = model.eval()(prompt_tokens)[:, -1:]
    expect_close(step_logits[:, :1], expected, f"{what}: the logits of the first new token (from the prompt alone)",
                 rtol=RTOL, atol=ATOL)


# --- the values: cached logits equal teacher-forced ones ---------------------------------------------------

@probe("values")
def step_logits_match_teacher_forcing(generate, seed: int) -> dict:
    """each step's logits equal the teacher-forced logits of the same prefix (rtol 1e-4, atol 1e-5)"""
    return {"runs": [generated(generate, build_model(_mix(seed, model_seed), layers, d_model, heads, tie_weights=tie),
                               prompt(_mix(seed, 10 + model_seed), batch, length), n)
                     for model_seed, layers, d_model, heads, tie, batch, length, n in CASES]}


@step_logits_match_teacher_forcing.judge
def _(data: dict, seed: int) -> None:
    for run, (model_seed, layers, d_model, heads, tie, batch, length, n) in zip(data["runs"], CASES, strict=True):
        model = build_model(_mix(seed, model_seed), layers, d_model, heads, tie_weights=tie)
        tokens, step_logits = checked_run(run, prompt(_mix(seed, 10 + model_seed), batch, length), n)
        expected = teacher_forced_logits(model, tokens, length)
        what = f"{layers}-layer model, prompt of {length} token(s), {n} new tokens"
        expect_close(step_logits[:, :1], expected[:, :1], f"{what}: the logits of the first new token (from the "
                     "prompt alone)", rtol=RTOL, atol=ATOL)
        expect_close(step_logits, expected, f"{what}: the logits of the later steps (from the cache) differ from "
                     "the model's own forward on the same tokens", rtol=RTOL, atol=ATOL)


@probe("values")
def tokens_are_the_greedy_choices(generate, seed: int) -> dict:
    """the prompt comes first, then each new token is the argmax of its step's logits"""
    return generated(generate, build_model(_mix(seed, 3)), prompt(_mix(seed, 13), 2, 4), 5)


@tokens_are_the_greedy_choices.judge
def _(data: dict, seed: int) -> None:
    start = prompt(_mix(seed, 13), 2, 4)
    tokens, step_logits = checked_run(data, start, 5)
    first_step_matches(build_model(_mix(seed, 3)), start, step_logits, "a 2-layer model, prompt of 4 tokens")
    expect(torch.equal(tokens[:, :4].long(), start), "tokens should begin with the prompt, unchanged")
    expect(torch.equal(tokens[:, 4:].long(), step_logits.argmax(-1)),
           "each new token should be the argmax of its step's logits (greedy decoding, no sampling)")


STOP_LENGTHS = (1, 4)


@probe("values")
def stops_at_the_requested_length(generate, seed: int) -> dict:
    """generate returns exactly num_new_tokens new tokens, for 1 and for several"""
    model = build_model(_mix(seed, 4))
    return {"runs": [generated(generate, model, prompt(_mix(seed, 14), 2, 3), n) for n in STOP_LENGTHS]}


@stops_at_the_requested_length.judge
def _(data: dict, seed: int) -> None:
    model, start = build_model(_mix(seed, 4)), prompt(_mix(seed, 14), 2, 3)
    for run, n in zip(data["runs"], STOP_LENGTHS, strict=True):
        _, step_logits = checked_run(run, start, n)
        first_step_matches(model, start, step_logits, f"prompt of 3 tokens, {n} new token(s)")


@probe("values")
def calls_are_independent(generate, seed: int) -> dict:
    """a second call, with another prompt and batch size, gives what it gives on a fresh model"""
    second = prompt(_mix(seed, 16), 2, 2)
    alone = generated(generate, build_model(_mix(seed, 5)), second, 4)
    model = build_model(_mix(seed, 5))
    first = generated(generate, model, prompt(_mix(seed, 15), 3, 4), 5)
    return {"alone": alone, "first": first, "second": generated(generate, model, second, 4)}


@calls_are_independent.judge
def _(data: dict, seed: int) -> None:
    second, model = prompt(_mix(seed, 16), 2, 2), build_model(_mix(seed, 5))
    alone_tokens, alone_logits = checked_run(data["alone"], second, 4)
    checked_run(data["first"], prompt(_mix(seed, 15), 3, 4), 5)
    tokens, step_logits = checked_run(data["second"], second, 4)
    first_step_matches(model, second, alone_logits, "a call on a fresh model")
    expect(torch.equal(tokens, alone_tokens) and torch.allclose(step_logits, alone_logits, rtol=RTOL, atol=ATOL),
           "a second call of generate on the same model gave other results than the same call on a fresh model: "
           "is something of the first call (its cache) kept and reused?")


# --- the cache: one new position per step, eval mode, no gradients ------------------------------------------

def attention_calls(generate, seed=6, batch=2, length=4, n=5, **model_kwargs):
    model = build_model(seed, **model_kwargs)
    log = AttendLog(model)
    tokens, step_logits = run_generate(generate, model, prompt(20 + seed, batch, length), n)
    return model, log, tokens, step_logits


@check("cache")
def one_new_position_per_step(generate) -> None:
    """after the prompt, every step runs only the newest token through each layer (attention queries counted)"""
    length, n = 4, 5
    model, log, _, _ = attention_calls(generate, length=length, n=n)
    for layer in range(len(model.blocks)):
        calls = log.of_layer(layer)
        expect(calls, f"layer {layer}'s attn.attend was never called: compute the attention with "
                      "block.attn.project and block.attn.attend")
        expect(calls[0][0] == length, f"the first call should run the whole prompt ({length} positions) through "
                                      f"layer {layer} at once; it ran {calls[0][0]}")
        steps = calls[1:]
        expect(len(steps) in (n - 1, n), f"{n} new tokens should take {n - 1} steps after the prompt (or {n}, if "
                                         f"the last token is fed too); layer {layer} was called {len(steps)} times")
        recomputed = [q for q, _ in steps if q != 1]
        expect(not recomputed, f"after the prompt each step should run one position (the newest token) through "
                               f"layer {layer}; steps ran {[q for q, _ in steps]} positions: the prefix is "
                               "recomputed instead of read from the cache")


@check("cache")
def cache_grows_by_one_position_per_step(generate) -> None:
    """at step i the newest token attends to the prompt and every token generated so far, one more each step"""
    length, n = 3, 6
    model, log, _, _ = attention_calls(generate, seed=7, length=length, n=n)
    for layer in range(len(model.blocks)):
        calls = log.of_layer(layer)
        expect(len(calls) >= n, f"layer {layer}'s attn.attend was called {len(calls)} times for a prompt and "
                                f"{n} new tokens: expected one call for the prompt and one per step")
        keys = [k for _, k in calls]
        expected = list(range(length, length + len(calls)))
        expect(keys == expected, f"layer {layer} attended over {keys} keys in its successive calls; expected "
                                 f"{expected}: the prompt, then one more cached position per step")


@check("cache")
def eval_mode_without_gradients(generate) -> None:
    """generation runs in eval mode (no dropout) with gradients off, even when given a model in training mode"""
    model = build_model(8, dropout=0.5).train()
    log = AttendLog(model)
    tokens, step_logits = run_generate(generate, model, prompt(28, 2, 3), 4)
    expect(log.calls, "attn.attend was never called: compute the attention with block.attn.project and "
                      "block.attn.attend")
    expect(not any(training for *_, training, _ in log.calls),
           "the model was in training mode while generating (dropout active): switch it to eval mode")
    expect(not any(grad for *_, grad in log.calls),
           "gradients were enabled while generating: the cache would keep every step's graph alive; use "
           "torch.no_grad()")
    expect(not step_logits.requires_grad and not tokens.requires_grad, "the returned tensors require grad")



DROPOUT_PROMPT, DROPOUT_STEPS = (2, 3), 4


@probe("cache")
def dropout_is_off_while_generating(generate, seed: int) -> dict:
    """given a model in training mode with dropout 0.5, generation gives the eval-mode model's logits"""
    return generated(generate, build_model(_mix(seed, 9), dropout=0.5).train(), prompt(_mix(seed, 29), *DROPOUT_PROMPT),
                     DROPOUT_STEPS)


@dropout_is_off_while_generating.judge
def _(data: dict, seed: int) -> None:
    # The data witness of eval mode: with dropout active the first token's logits (from the prompt alone, no cache
    # read, so every cache mistake leaves them right) are not the eval-mode model's.
    start = prompt(_mix(seed, 29), *DROPOUT_PROMPT)
    _, step_logits = checked_run(data, start, DROPOUT_STEPS)
    first_step_matches(build_model(_mix(seed, 9), dropout=0.5), start, step_logits,
                       "a model given in training mode with dropout 0.5 (is dropout active while generating?)")
