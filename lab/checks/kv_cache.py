"""Hidden checks for exercise 4b, greedy generation with a KV cache: the probes (their judges:
lab/judges/kv_cache.py).

What the notebook states, and so all these checks rely on: `generate(model, prompt, num_new_tokens)` takes a model
with the parts of the provided TinyLM (`embed`, `layers`, each with `norm1`, `self_attn.project`/`attend`,
`norm2`, `ffn`, `dropout`; `logits`; `max_len`), a prompt (batch, P) of token ids (P >= 1) and n >= 1 with
P + n <= model.max_len, and returns `(tokens, step_logits)`: tokens (batch, P + n), the prompt followed by the n
greedily chosen tokens; step_logits (batch, n, vocab), step_logits[:, i] the logits the i-th new token was chosen
from (its argmax). It runs the blocks' parts itself (never model(...) or a block's forward), in eval mode, with
gradients off while it runs and on again when it returns. Every position goes through each layer's projections
once: the prompt's positions for the whole batch at once (in one call, or one position at a time in order), then
each new token once, its keys and values appended to that layer's cache. The cache's format is the student's.

The probes give the student's generate small models of their own (`TinyLM`), never the student's trained model or
block: the parts, with random weights (random RMSNorm scales too: ones hide mistakes), and no forward (so nothing
here is a block an answer to 4a could borrow; the judges hold the only forward). The witnesses, all in the data:
- values: non-drifting models; the step logits must be the model's teacher-forced logits of the returned tokens
  (any correct decoding, cached or not, gives them);
- cache: a model whose query, key and value projections DRIFT with the number of positions each has projected
  (`ProbeLinear`: in a call on t positions, row j uses W + (seen + j) * D, then seen += t). Decoding with a cache
  projects each position once, in order, so position p gets drift p whichever way the prompt goes in; decoding
  that recomputes the prefix, or projects a batch row by row, gives other drifts and other logits. The judge
  computes the logits of position-p-drift itself;
- eval mode: a model with dropout 0.5 given in training mode (dropout on gives other logits);
- gradients off: a model whose query projection adds a shift while gradients are enabled (so logits computed
  with gradients on differ); gradients on again afterwards: a gradient computed after generate returns.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lab.provided import as_in_notebook
from lab.provided.attention import MultiHeadAttention

from autograder.probing import CheckGroups, plain

GROUPS = CheckGroups()
probe = GROUPS.probe

SelfAttention = as_in_notebook("tiny_lm.py", {"MultiHeadAttention": MultiHeadAttention})["SelfAttention"]
VOCAB, MAX_LEN = 7, 12
DRIFT_SCALE = 0.05  # per position, relative to the weights' own scale: position 11's projections move ~50%
GRAD_SHIFT = 0.5


def _mix(seed: int, stream: int) -> int:
    """A generator seed for one model or prompt of one grading seed (seed 0, the unit tests': the stream itself)."""
    return stream if seed == 0 else (seed * 1_000_003 + stream) % 2**63


class ProbeLinear(nn.Linear):
    """nn.Linear, optionally drifting (row j of a call on t positions computed with W + (seen + j) * drift, then
    seen += t) and optionally shifted while gradients are enabled."""

    def __init__(self, d_in: int, d_out: int, drift: torch.Tensor | None = None,
                 grad_shift: torch.Tensor | None = None):
        super().__init__(d_in, d_out)
        self.drift, self.grad_shift, self.seen = drift, grad_shift, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if self.drift is not None:
            t = x.shape[-2]
            steps = torch.arange(self.seen, self.seen + t, dtype=x.dtype, device=x.device)
            y = y + steps[:, None] * F.linear(x, self.drift.to(x.dtype))
            self.seen += t
        if self.grad_shift is not None and torch.is_grad_enabled():
            y = y + self.grad_shift.to(y.dtype)
        return y


# What the student's code sees looks like the notebook's own: a TinyLM of BlockParts (the name of 4b's test model in
# the notebook) with nn.Linear projections.
ProbeLinear.__name__ = ProbeLinear.__qualname__ = "Linear"


class _NoForward(nn.Module):
    def forward(self, *args, **kwargs):
        raise RuntimeError("the test model has no forward: generate runs the blocks' parts itself (embed, "
                           "norm1, self_attn.project / attend, ffn, norm2, logits), never model(...) or block(...)")


class BlockParts(_NoForward):
    """One block's parts, as the notebook's API names them, without a forward."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model, eps=1e-6)
        self.self_attn = SelfAttention(d_model, num_heads, dropout)
        self.norm2 = nn.RMSNorm(d_model, eps=1e-6)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)


class TinyLM(_NoForward):
    """The parts of the provided TinyLM (embed, layers, logits, max_len), without a forward."""

    def __init__(self, d_model: int, num_heads: int, num_layers: int, dropout: float, tie_weights: bool):
        super().__init__()
        self.max_len = MAX_LEN
        self.tok_emb = nn.Embedding(VOCAB, d_model)
        self.pos_emb = nn.Embedding(MAX_LEN, d_model)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(BlockParts(d_model, num_heads, 2 * d_model, dropout) for _ in range(num_layers))
        self.final_norm = nn.RMSNorm(d_model, eps=1e-6)
        self.head = nn.Linear(d_model, VOCAB, bias=False)
        if tie_weights:
            self.head.weight = self.tok_emb.weight

    def embed(self, tokens, start=0):
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.dropout(self.tok_emb(tokens) + self.pos_emb(positions))

    def logits(self, x):
        return self.head(self.final_norm(x))


def build_model(seed: int, num_layers: int = 2, d_model: int = 16, num_heads: int = 2, dropout: float = 0.0,
                tie_weights: bool = False, drift: bool = False, grad_shift: bool = False) -> TinyLM:
    """A small model with random weights drawn from `seed`, in eval mode. drift: every layer's W_q, W_k, W_v
    drift (ProbeLinear); grad_shift: every layer's W_q is shifted while gradients are enabled."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # the caller's global generator is left alone
        torch.manual_seed(seed)
        model = TinyLM(d_model, num_heads, num_layers, dropout, tie_weights)
        for name, param in model.named_parameters():
            if "norm" in name:  # RMSNorm scales: ones hide mistakes
                param.copy_(0.5 + torch.rand(param.shape, generator=g))
        for layer in model.layers:
            attn = layer.self_attn
            for name in ("W_q", "W_k", "W_v"):
                old = getattr(attn, name)
                d = None
                if drift:
                    d = torch.randn(old.weight.shape, generator=g) * DRIFT_SCALE / d_model ** 0.5
                shift = torch.randn(d_model, generator=g) * GRAD_SHIFT if grad_shift and name == "W_q" else None
                new = ProbeLinear(d_model, d_model, d, shift)
                new.weight.copy_(old.weight)
                new.bias.copy_(old.bias)
                setattr(attn, name, new)
    return model.eval()


def prompt(seed: int, batch: int, length: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def generated(generate, model, prompt_tokens, n) -> dict:
    """What a probe reports of one call of the student's generate: what it returned, and the prompt after the call."""
    given = prompt_tokens.clone()
    result = generate(model, given, n)
    pair = isinstance(result, tuple) and len(result) == 2
    return {"type": type(result).__name__, "tokens": plain(result[0]) if pair else None,
            "step_logits": plain(result[1]) if pair else None, "prompt": plain(given)}


CASES = [  # (model stream, layers, d_model, heads, tie_weights, batch, prompt length, new tokens)
    (0, 2, 16, 2, False, 2, 3, 5),
    (1, 3, 24, 4, True, 1, 1, 6),
    (2, 1, 16, 4, False, 3, 5, 7),  # P + n = MAX_LEN: the whole context
]


def case_model(seed: int, case: tuple, drift: bool) -> TinyLM:
    stream, layers, d_model, heads, tie, *_ = case
    return build_model(_mix(seed, stream + (100 if drift else 0)), layers, d_model, heads, tie_weights=tie,
                       drift=drift)


def case_prompt(seed: int, case: tuple, drift: bool) -> torch.Tensor:
    stream, *_, batch, length, _ = case
    return prompt(_mix(seed, 10 + stream + (100 if drift else 0)), batch, length)


# --- values: the step logits are the model's own (teacher-forced) logits -----------------------------------------

@probe("values")
def step_logits_match_teacher_forcing(generate, seed: int) -> dict:
    """each step's logits equal the teacher-forced logits of the same prefix (rtol 1e-4, atol 1e-5)"""
    return {"runs": [generated(generate, case_model(seed, case, False), case_prompt(seed, case, False), case[-1])
                     for case in CASES]}


GREEDY = (3, 13, 2, 4, 5)  # model stream, prompt stream, batch, prompt length, new tokens


@probe("values")
def tokens_are_the_greedy_choices(generate, seed: int) -> dict:
    """the prompt comes first, then each new token is the argmax of its step's logits"""
    model_stream, prompt_stream, batch, length, n = GREEDY
    return generated(generate, build_model(_mix(seed, model_stream)), prompt(_mix(seed, prompt_stream), batch, length),
                     n)


STOP_LENGTHS = (1, 4)


@probe("values")
def stops_at_the_requested_length(generate, seed: int) -> dict:
    """generate returns exactly num_new_tokens new tokens, for 1 and for several"""
    model = build_model(_mix(seed, 4))
    return {"runs": [generated(generate, model, prompt(_mix(seed, 14), 2, 3), n) for n in STOP_LENGTHS]}


@probe("values")
def calls_are_independent(generate, seed: int) -> dict:
    """a second call, with another prompt and batch size, gives what it gives on a fresh model"""
    second = prompt(_mix(seed, 16), 2, 2)
    alone = generated(generate, build_model(_mix(seed, 5)), second, 4)
    model = build_model(_mix(seed, 5))
    first = generated(generate, model, prompt(_mix(seed, 15), 3, 4), 5)
    return {"alone": alone, "first": first, "second": generated(generate, model, second, 4)}


# --- the cache, eval mode, gradients -------------------------------------------------------------------------

@probe("cache")
def each_position_projected_once(generate, seed: int) -> dict:
    """with projections that change with every position they process, the logits are those of cached decoding"""
    return {"runs": [generated(generate, case_model(seed, case, True), case_prompt(seed, case, True), case[-1])
                     for case in CASES]}


DROPOUT = (9, 29, 2, 3, 4)  # model stream, prompt stream, batch, prompt length, new tokens


@probe("cache")
def dropout_is_off_while_generating(generate, seed: int) -> dict:
    """given a model in training mode with dropout 0.5, generation gives the eval-mode model's logits"""
    model_stream, prompt_stream, batch, length, n = DROPOUT
    model = build_model(_mix(seed, model_stream), dropout=0.5).train()
    return generated(generate, model, prompt(_mix(seed, prompt_stream), batch, length), n)


GRADIENTS = (8, 28, 2, 3, 4)
GRAD_AFTER_TOKENS = (2, 5)  # the shape of the tokens whose embeddings' gradient is taken after generate returns


def grad_after_inputs(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = prompt(_mix(seed, 38), *GRAD_AFTER_TOKENS)
    weights = torch.randn(*GRAD_AFTER_TOKENS, 16, generator=torch.Generator().manual_seed(_mix(seed, 39)))
    return tokens, weights


@probe("cache")
def gradients_off_while_generating_and_on_after(generate, seed: int) -> dict:
    """generation runs with gradients off, and they are on again when generate returns (training goes on after it)"""
    model_stream, prompt_stream, batch, length, n = GRADIENTS
    model = build_model(_mix(seed, model_stream), grad_shift=True)
    run = generated(generate, model, prompt(_mix(seed, prompt_stream), batch, length), n)
    tokens, weights = grad_after_inputs(seed)
    model.zero_grad(set_to_none=True)
    loss = (model.tok_emb(tokens) * weights).sum()
    if loss.requires_grad:
        loss.backward()
    grad = model.tok_emb.weight.grad
    run["grad_after"] = None if grad is None else plain(grad)
    return run
