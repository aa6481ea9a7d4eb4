# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 4: use the block. A tiny language model, trained and decoded on a CPU
#
# Exercises 1 to 3 built the parts of a Transformer one at a time and tested each alone. This notebook puts them
# to work: you assemble a decoder-only block from them, a language model made of your blocks learns a small task
# in a few seconds, and you write the loop that makes it generate text, the way every large language model does,
# with a **KV cache**.
#
# **Learning goals.** After this notebook you can
# - say why attention needs position information, and show it with a permutation;
# - assemble a causal, pre-norm decoder-only block from an attention module, RMSNorm and a feed-forward network,
#   stack such blocks into a language model and train it with next-token prediction;
# - write greedy autoregressive generation with a KV cache, and check it against the model's own forward pass;
# - measure what the cache buys, and explain what the causal mask buys.
#
# **Estimated time:** 75 minutes. The solved notebook, training included, runs in well under a minute and a half
# on a 2-core CPU.
#
# | part | what you do | graded |
# | --- | --- | --- |
# | 4a | `DecoderOnlyBlock`: the block, from your work of exercises 1 and 3 | automatically (visible and hidden tests) |
# | 4b | `generate`: greedy generation with a KV cache | automatically (visible and hidden tests) |
# | 4c | train once without the causal mask, and explain the numbers of your run | by your instructor |
#
# Each part is graded on its own: the tests of 4b use test models of their own, not your block, so a mistake in
# 4a costs nothing in 4b.

# %% tags=["nbval-ignore-output"]
import functools
import math
import os
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import benchmark

# The tensors here are small: one thread is faster for them than several, and it makes every printed loss and
# accuracy the same on every run of this notebook on the same machine.
torch.set_num_threads(1)
torch.manual_seed(0)
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))  # set by nbgrader's Validate and autograde
print("torch", torch.__version__)

# %% include="autograder/cells/warnings_as_output.py" nbgrader={"grade_id": "provided_warnings", "locked": true}

# %% [markdown]
# ## 1. The parts
#
# The two read-only cells below are the code this notebook provides. The first is the `MultiHeadAttention` of the
# attention lesson and of exercises 1 and 2. The second holds:
#
# - `SelfAttention`: `MultiHeadAttention` used as self-attention, cut in two steps:
#   `q, k, v = attn.project(x)` computes the queries, keys and values, each `(batch, num_heads, t, d_k)`, and
#   `attn.attend(q, k, v, mask)` computes the attention and the output projection, `(batch, t_q, d_model)`.
#   `attn(x, mask)` does both, and is the same function as `MultiHeadAttention(x, x, x, mask)`. (Exercise 4b puts
#   a cache between the two steps.)
# - `TinyLM`, the language model. It embeds the tokens, adds a learned **position embedding** (section 2 says
#   why), runs a stack of blocks, `layers`, applies a final norm, `final_norm`, and a linear **head** that gives one
#   score (logit) per vocabulary entry: `model(tokens)` maps `(batch, T)` token ids to `(batch, T, vocab_size)`
#   logits, and position `i`'s logits predict token `i + 1`. It is built from the classes you give it:
#   `TinyLM(vocab_size, max_len, block=..., norm=...)` makes each block as `block(d_model, num_heads, d_ff,
#   dropout)` and the final norm as `norm(d_model)`. `model.embed(tokens, start)` embeds tokens that sit at
#   positions `start, start + 1, ...` (and applies the model's `dropout`); `model.logits(x)` is the final norm and
#   the head. `causal=False` drops the causal mask (exercise 4c). `tie_weights=True` makes the head reuse the token
#   embedding matrix (Press & Wolf, 2017), as GPT-2 does.
# - `TorchBlock`: PyTorch's own `nn.TransformerEncoderLayer` (pre-norm, with LayerNorm), a stand-in that lets the
#   model train before your block of exercise 4a is written. It has none of the parts `generate` uses.

# %% include="lab/provided/attention.py" nbgrader={"grade_id": "provided_mha", "locked": true}

# %% include="lab/provided/tiny_lm.py" nbgrader={"grade_id": "provided_tiny_lm", "locked": true}

# %% [markdown]
# **Your RMSNorm.** The blocks and the final norm of this notebook are RMSNorms. Paste your `RMSNorm` class of
# exercise 3a into the cell below, in place of its last line. Until you do, PyTorch's `nn.RMSNorm` stands in for
# it: the same function (its `eps` passed explicitly, as its default is another). This cell is not graded:
# exercise 3 grades your RMSNorm, and 4a's tests only ask that your block's norms are this cell's RMSNorm (they
# re-scale, they do not subtract the mean).

# %%
# Your RMSNorm of exercise 3a: paste the class here, in place of the line below.
RMSNorm = functools.partial(nn.RMSNorm, eps=1e-6)

# %% [markdown]
# A quick check of the model, made of the stand-in blocks: tying the weights removes one `vocab_size x d_model`
# matrix: little here (11 tokens), 38.6 million parameters in GPT-2 small (50257 tokens of width 768).

# %%
for tie_weights in (False, True):
    count = sum(p.numel() for p in TinyLM(11, 13, block=TorchBlock, norm=RMSNorm, tie_weights=tie_weights).parameters())
    print(f"tie_weights={tie_weights}: {count} parameters")

# %% [markdown]
# ## 2. Attention alone does not know the order
#
# Self-attention without a mask compares every token with every other and takes a weighted average; nothing in it
# refers to *where* a token is. Permute the input tokens and the outputs are permuted the same way, with the same
# values: the model cannot tell "dog bites man" from "man bites dog". (With the causal mask, a position's output
# depends on which tokens came before it, and stacked causal layers can learn some position information from that
# alone (Haviv et al., 2022); but to one attention layer, the order of the earlier tokens is still invisible.)
# Adding a different vector to each position, a **position embedding**, breaks the symmetry: the same tokens in
# another order now give other outputs.

# %%
torch.manual_seed(0)
attention_demo = SelfAttention(16, 2, dropout=0.0).eval()
x_demo = torch.randn(1, 5, 16)
positions_demo = torch.randn(1, 5, 16)  # one vector per position, as TinyLM.pos_emb holds (there: learned)
permutation = torch.tensor([3, 0, 4, 1, 2])
with torch.no_grad():
    plain, plain_permuted = attention_demo(x_demo), attention_demo(x_demo[:, permutation])
    with_pos = attention_demo(x_demo + positions_demo)
    with_pos_permuted = attention_demo(x_demo[:, permutation] + positions_demo)
print("without positions, permuting the input permutes the output:",
      torch.allclose(plain_permuted, plain[:, permutation], atol=1e-6))
print("with position embeddings added, it does not:",
      torch.allclose(with_pos_permuted, with_pos[:, permutation], atol=1e-6))

# %% [markdown]
# ## 3. Exercise 4a: the decoder-only block
#
# A decoder-only model (GPT and its descendants) has no encoder, so its blocks have no cross-attention: each is
# exercise 1b's block without its second sublayer, with your RMSNorm of exercise 3 in place of LayerNorm. What
# keeps a position from reading the future is the causal mask the model passes to every block.
#
# **The API your class must meet** (the tests rely on exactly this, and on nothing else):
#
# - `DecoderOnlyBlock(d_model, num_heads, d_ff, dropout=0.0)` is an `nn.Module` with these attributes:
#   - `norm1` and `norm2`: two separate `RMSNorm(d_model)` (the `RMSNorm` of the cell in section 1: yours, or
#     the stand-in);
#   - `self_attn`: a `SelfAttention(d_model, num_heads, dropout)` (the provided class; it applies dropout to its
#     attention weights);
#   - `ffn`: an `nn.Sequential` of `nn.Linear(d_model, d_ff)`, `nn.GELU()`, `nn.Dropout(dropout)`,
#     `nn.Linear(d_ff, d_model)`, in this order;
#   - `dropout`: an `nn.Dropout(dropout)`, applied to each sublayer's output before it is added to the residual.
# - `forward(x, mask=None)`: `x` is `(batch, T, d_model)`. It computes, in this order,
#   1. `x = x + dropout(self_attn(norm1(x), mask))`
#   2. `x = x + dropout(ffn(norm2(x)))`
#
#   and returns a tensor of `x`'s shape. It uses **exactly the mask it is given** (True = may attend; `None` means
#   no mask) and builds none itself, and it does not modify `x` (write `x = x + ...`, not `x += ...`).
#
# Nothing else: no dropout anywhere else, no norm after the second sum (the model's `final_norm` comes after the
# last block).

# %% nbgrader={"grade_id": "block_impl", "solution": true}
class DecoderOnlyBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.norm1 = RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, num_heads, dropout)
        self.norm2 = RMSNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x, mask=None):
        ### BEGIN SOLUTION
        x = x + self.dropout(self.self_attn(self.norm1(x), mask))
        return x + self.dropout(self.ffn(self.norm2(x)))
        ### END SOLUTION


# %% [markdown]
# ### Tests for 4a
#
# The visible tests check the attributes, causality, and your block against PyTorch's own pre-norm layer
# (`nn.TransformerEncoderLayer(..., norm_first=True)`) given your block's weights and its two norms, then dropout
# and gradients. The hidden tests give your block random weights (with PyTorch's `nn.RMSNorm` as its norms, so
# that exercise 3 does not count twice) and check its outputs for two sizes, with a causal mask, with no mask and
# with a per-sequence `(batch, 1, T, T)` mask; that `norm1` and `norm2` are RMSNorms; the gradients of the input
# and of the parameters; and dropout: exactly where the API says in training mode, and nowhere in eval mode.

# %% nbgrader={"grade_id": "block_fixtures", "locked": true}
def same_function_in_pytorch(block, d_model, num_heads, d_ff):
    """PyTorch's pre-norm layer with the block's weights and the block's own two norms (a self-check)."""
    layer = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    attn, (lin1, lin2) = block.self_attn, [m for m in block.ffn if isinstance(m, nn.Linear)]
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([attn.W_q.weight, attn.W_k.weight, attn.W_v.weight]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([attn.W_q.bias, attn.W_k.bias, attn.W_v.bias]))
        layer.self_attn.out_proj.load_state_dict(attn.W_o.state_dict())
        layer.linear1.load_state_dict(lin1.state_dict())
        layer.linear2.load_state_dict(lin2.state_dict())
    layer.norm1, layer.norm2 = block.norm1, block.norm2
    layer.train()  # dropout is 0: training mode only keeps PyTorch on its plain (not fused) path
    return lambda x, mask: layer(x, src_mask=~mask)  # PyTorch's masks say True = blocked


# %% nbgrader={"grade": true, "grade_id": "test_block_values", "locked": true, "points": 3}
### BEGIN HIDDEN TESTS
from lab.checks import lm_block as _checks; _checks.GROUPS.run("values", DecoderOnlyBlock)
### END HIDDEN TESTS
torch.manual_seed(0)
block = DecoderOnlyBlock(16, 2, 32).eval()
for name in ["norm1", "self_attn", "norm2", "ffn", "dropout"]:
    assert hasattr(block, name), f"the block should have an attribute `{name}`"
assert type(block.norm1) is type(RMSNorm(16)) and type(block.norm2) is type(RMSNorm(16)), (
    f"norm1 and norm2 should be RMSNorm(d_model), the RMSNorm of section 1; found {type(block.norm1).__name__}")
assert block.norm1 is not block.norm2, "norm1 and norm2 should be two separate norms"
with torch.no_grad():  # random norm scales: scales of ones hide which norm is used where
    for norm in (block.norm1, block.norm2):
        for param in norm.parameters():
            param.uniform_(0.5, 1.5)
x_test = torch.randn(2, 6, 16)
causal_test = torch.ones(6, 6, dtype=torch.bool).tril()
with torch.no_grad():
    y_test = block(x_test, causal_test)
    x_changed = x_test.clone()
    x_changed[:, 4:] = torch.randn(2, 2, 16)  # change the last two positions
    y_changed = block(x_changed, causal_test)
    y_pytorch = same_function_in_pytorch(block, 16, 2, 32)(x_test, causal_test)
assert isinstance(y_test, torch.Tensor) and y_test.shape == (2, 6, 16), "forward should return a tensor of x's shape"
assert torch.allclose(y_test[:, :4], y_changed[:, :4], atol=1e-5), (
    "changing positions 4 and 5 changed the outputs at positions 0..3: is the mask passed to self_attn?")
assert torch.allclose(y_test, y_pytorch, atol=1e-5), (
    "your block's output differs from PyTorch's pre-norm layer given the same weights and norms: each sublayer is "
    "x + dropout(sublayer(norm(x))), the norm BEFORE the sublayer (post-norm, norm(x + sublayer(x)), is the "
    "original Transformer's order, not this one), and both sums keep x")
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_block_training", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from lab.checks import lm_block as _checks; _checks.GROUPS.run("training", DecoderOnlyBlock)
### END HIDDEN TESTS
torch.manual_seed(1)
block = DecoderOnlyBlock(16, 2, 32, dropout=0.5)
x_test = torch.randn(2, 5, 16, requires_grad=True)
causal_test = torch.ones(5, 5, dtype=torch.bool).tril()
block.train()
assert not torch.equal(block(x_test, causal_test), block(x_test, causal_test)), (
    "in training mode with dropout 0.5, two calls gave the same output: is dropout applied?")
block.eval()
with torch.no_grad():
    assert torch.equal(block(x_test, causal_test), block(x_test, causal_test)), (
        "in eval mode two calls should give the same output: use nn.Dropout modules (F.dropout(x, p) stays on)")
(block(x_test, causal_test) * torch.randn(2, 5, 16)).sum().backward()
no_grad = [name for name, p in block.named_parameters() if p.grad is None]
assert x_test.grad is not None and not no_grad, f"no gradient reached x or the parameters {no_grad}"
print("visible tests passed")

# %% [markdown]
# The rest of the notebook builds its models from your block once it runs, and from the stand-in until then:

# %%
try:
    DecoderOnlyBlock(8, 2, 16)(torch.randn(1, 3, 8), torch.ones(3, 3, dtype=torch.bool).tril())
    Block = DecoderOnlyBlock
    print("The models below are made of your DecoderOnlyBlock.")
except Exception as error:  # not written yet (NotImplementedError), or not working
    Block = TorchBlock
    print(f"Your DecoderOnlyBlock does not run yet ({type(error).__name__}): the models below are made of "
          "TorchBlock, PyTorch's stand-in, and your generate (4b) runs on the test model of section 5 only.")

# %% [markdown]
# ## 4. A task that needs the past: running sums
#
# Each sequence is six random digits, a separator token `S` (id 10), then the **running sums modulo 10** of the
# digits: for digits `3 5 9 ...` the answer starts `3 8 7 ...` (3, 3+5 = 8, 8+9 = 17). Every answer digit depends
# on the digits before it, so the model must look back. The model is trained the way language models are: on the
# whole sequence, each position predicting the next token (cross-entropy), on fresh random sequences every step.

# %%
DIGITS, SEP = 10, 10
VOCAB = 11
NUM_DIGITS = 6
SEQ_LEN = 2 * NUM_DIGITS + 1
PROMPT_LEN = NUM_DIGITS + 1  # the digits and the separator


def make_batch(batch_size, generator):
    digits = torch.randint(0, DIGITS, (batch_size, NUM_DIGITS), generator=generator)
    sums = digits.cumsum(dim=1) % 10
    return torch.cat([digits, torch.full((batch_size, 1), SEP), sums], dim=1)


def show(sequence):
    return " ".join("S" if t == SEP else str(int(t)) for t in sequence)


for sequence in make_batch(3, torch.Generator().manual_seed(1)):
    print(show(sequence))

# %% [markdown]
# The training loop: AdamW, batches of 64 new sequences, the loss of every step kept for the plot. The model has
# two blocks of width 64 and 4 heads, about 70 thousand parameters. While nbgrader validates or grades your
# notebook, training is cut to a few steps and the test below to 100 sequences (nothing graded depends on them);
# the numbers printed then are not the ones to explain.

# %%
TRAIN_STEPS = 20 if GRADING else 250


def new_model():
    torch.manual_seed(0)
    return TinyLM(VOCAB, SEQ_LEN, block=Block, norm=RMSNorm, d_model=64, num_heads=4, num_layers=2,
                  d_ff=128)


def train(model, steps=TRAIN_STEPS, causal=True, batch_size=64, lr=3e-3, seed=0):
    """Next-token prediction on fresh random sequences; returns every step's loss."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        sequences = make_batch(batch_size, generator)
        logits = model(sequences[:, :-1], causal=causal)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), sequences[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


start = time.perf_counter()
model = new_model()
losses = train(model)
train_seconds = time.perf_counter() - start
print(f"{sum(p.numel() for p in model.parameters())} parameters, {len(losses)} steps")

# %% tags=["nbval-ignore-output"]
print(f"training took {train_seconds:.1f} s on this machine")

# %% [markdown]
# To measure what the model learned, it **generates**: given the six digits and the separator, it picks the most
# likely next token (greedy decoding), appends it, and repeats six times. The function below does it the simple
# way, running the whole sequence through the model again for every new token; exercise 4b does it better. The
# accuracy is the fraction of answer digits right, on 1000 random sequences drawn apart from the training batches.

# %% nbgrader={"grade_id": "provided_greedy", "locked": true}
def greedy_no_cache(model, prompt, num_new_tokens, causal=True):
    """Greedy decoding without a cache: the whole sequence goes through the model again for every new token."""
    model.eval()
    tokens = prompt
    with torch.no_grad():
        for _ in range(num_new_tokens):
            next_token = model(tokens, causal=causal)[:, -1].argmax(dim=-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
    return tokens


TEST_SEQUENCES = make_batch(100 if GRADING else 1000, torch.Generator().manual_seed(1234))


def answer_accuracy(generated):
    return (generated[:, PROMPT_LEN:] == TEST_SEQUENCES[:, PROMPT_LEN:]).float().mean().item()


# %%
generated = greedy_no_cache(model, TEST_SEQUENCES[:, :PROMPT_LEN], NUM_DIGITS)
accuracy = answer_accuracy(generated)
final_loss = sum(losses[-20:]) / 20
print(f"After {len(losses)} steps the training loss was {final_loss:.3f} (mean of the last 20 steps), and greedy "
      f"generation got {accuracy:.1%} of the answer digits of {len(TEST_SEQUENCES)} test sequences right.")
print("one of them, generated:", show(generated[0]))

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(losses)
ax.set_xlabel("training step")
ax.set_ylabel("training loss (cross-entropy)")
ax.set_title("Training the tiny language model on running sums")
plt.show()

# %% [markdown]
# Exercise 4c comes back to these numbers.
#
# ## 5. Exercise 4b: greedy generation with a KV cache
#
# `greedy_no_cache` runs the whole prefix through every layer for every new token: step `t` processes `t`
# positions, so `n` new tokens cost about `n**2 / 2` position-passes, almost all of them repeated work. With a
# causal mask, the keys and values of position `i`, in every layer, depend only on tokens `0..i`: once computed
# they never change. A **KV cache** keeps them. The prompt goes through the model once, filling each layer's cache
# with its keys and values; then every step runs only the **newest token** through the model: in each layer its
# query, key and value are computed, the key and value are appended to that layer's cache, and the query attends
# to every cached key. The logits are the same as without the cache (up to rounding); the work per step no
# longer grows with the prefix, except for the attention itself, which reads all cached keys.
#
# **The API your function must meet** (the tests rely on exactly this, and on nothing else):
#
# - `generate(model, prompt, num_new_tokens)`: `model` is a `TinyLM` (or a model with the same parts, see below),
#   `prompt` a `(batch, P)` tensor of token ids with `P >= 1`, `num_new_tokens >= 1`, and
#   `P + num_new_tokens <= model.max_len`.
# - It returns `(tokens, step_logits)`: `tokens` is `(batch, P + num_new_tokens)`, the prompt followed by the new
#   tokens; `step_logits` is `(batch, num_new_tokens, vocab_size)`, where `step_logits[:, i]` are the logits the
#   `i`-th new token was chosen from. Greedy: each new token is the `argmax` of its logits.
# - It runs the model in **eval mode** (`model.eval()`: no dropout) with **gradients off while it runs and on again
#   when it returns**: put the work under `with torch.no_grad():` (not `torch.set_grad_enabled(False)`, which
#   stays off), because the notebook trains again after generating. It does not modify `prompt`.
# - It runs the blocks' **parts** itself, never `model(...)` or a block's `forward`: `model.embed`, and for each
#   block of `model.layers` its `norm1`, `self_attn.project`, `self_attn.attend`, `norm2` and `ffn`, then
#   `model.logits`. (The tests give it models that have exactly these parts, and no forward.)
# - It uses a KV cache: **every position goes through each layer's projections (`self_attn.project`) once**. The
#   prompt's positions go through for the **whole batch at once**: in one call with a causal mask (or one position
#   at a time, in order); never one sequence of the batch after another. Then each new token goes through once,
#   its key and value appended to that layer's cache. (The last new token's key and value are never used: sending
#   it through or not is up to you, and the tests accept both.)
# - The cache's format is yours to choose (a list, a dict, a preallocated tensor, ...), and it belongs to one call
#   of `generate`.
#
# The steps of one pass over new tokens that sit at positions `start, start + 1, ...` (in eval mode the blocks'
# `dropout` does nothing, so it is left out):
#
# ```python
# x = model.embed(tokens, start)
# for block in model.layers:
#     q, k, v = block.self_attn.project(block.norm1(x))
#     ...  # the keys and values of this layer's earlier positions, and the mask
#     ...  # then the rest of your block's forward (4a), with block.self_attn.attend(q, keys, values, mask)
#     ...  # as its attention
# logits = model.logits(x)
# ```
#
# **Hints.** Keys and values are `(batch, num_heads, length, d_k)`: join along `dim=2`. Think about which
# positions each new token sits at, and which keys a query at position `p` may attend to: those at positions
# `0..p`. The mask follows `MultiHeadAttention`'s convention (True = may attend) and broadcasts to
# `(batch, num_heads, t_q, t_k)`.

# %% nbgrader={"grade_id": "generate_impl", "solution": true}
def generate(model, prompt, num_new_tokens):
    ### BEGIN SOLUTION
    model.eval()
    cache = [None] * len(model.layers)  # per layer: (keys, values), each (batch, heads, length, d_k)

    def run(tokens, start):
        """Positions start .. start + t - 1 through the model, using and extending the cache; last logits."""
        x = model.embed(tokens, start)
        t = tokens.shape[1]
        # the query at position start + i may attend to the keys at positions 0 .. start + i
        mask = torch.ones(t, start + t, dtype=torch.bool, device=tokens.device).tril(diagonal=start)
        for layer, block in enumerate(model.layers):
            q, k, v = block.self_attn.project(block.norm1(x))
            if cache[layer] is not None:
                k = torch.cat([cache[layer][0], k], dim=2)
                v = torch.cat([cache[layer][1], v], dim=2)
            cache[layer] = (k, v)
            x = x + block.self_attn.attend(q, k, v, mask)
            x = x + block.ffn(block.norm2(x))
        return model.logits(x[:, -1])

    with torch.no_grad():
        tokens, step_logits = prompt, []
        logits = run(prompt, 0)
        for step in range(num_new_tokens):
            step_logits.append(logits)
            tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
            if step + 1 < num_new_tokens:  # the last token chosen needs no pass of its own
                logits = run(tokens[:, -1:], tokens.shape[1] - 1)
        return tokens, torch.stack(step_logits, dim=1)
    ### END SOLUTION


# %% [markdown]
# ### Tests for 4b
#
# The visible tests use a small test model with random weights, made of the parts `generate` uses (and nothing
# else: it works whether or not your block of 4a is written). Your tokens must be the greedy choices, the logits
# of every step must equal those of a fresh call on the same prefix (which reads no cache), the first layer's
# attention must see the prompt once and then one new query per step, and gradients must be off inside and on
# after. The hidden tests check the same on other models (one to three layers, tied weights, a prompt of one
# token, the whole context) against the model's own forward pass, within a stated tolerance (`rtol=1e-4,
# atol=1e-5`: the cached and the full computations add up the same numbers in different orders), and also:
# exactly `num_new_tokens` new tokens, two calls in a row, eval mode when given a model in training mode with
# dropout, gradients off inside and on after, and a cache that is used: their models' projections change a little
# with every position they process, so only logits computed with each position projected once, in order, with the
# whole batch at once, are the expected ones.

# %% nbgrader={"grade_id": "test_fixtures", "locked": true}
class BlockParts(nn.Module):
    """Only the parts of a block that generate uses (no dropout, no forward): the test model's blocks."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(d_model, eps=1e-6), nn.RMSNorm(d_model, eps=1e-6)
        self.self_attn = SelfAttention(d_model, num_heads, dropout=0.0)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))


torch.manual_seed(0)
small_lm = TinyLM(7, 12, block=BlockParts, norm=RMSNorm, d_model=16, num_heads=2, num_layers=2).eval()
with torch.no_grad():  # random norm scales: ones hide mistakes
    for name, param in small_lm.named_parameters():
        if "norm" in name:
            param.uniform_(0.5, 1.5)
small_prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])

# %% nbgrader={"grade": true, "grade_id": "test_generate_values", "locked": true, "points": 3}
### BEGIN HIDDEN TESTS
from lab.checks import kv_cache as _checks; _checks.GROUPS.run("values", generate)
### END HIDDEN TESTS
prompt_before = small_prompt.clone()
tokens_small, logits_small = generate(small_lm, small_prompt, 5)
assert torch.equal(small_prompt, prompt_before), "generate changed the prompt it was given"
assert tokens_small.shape == (2, 8), f"tokens should have shape (2, 3 + 5) = (2, 8), got {tuple(tokens_small.shape)}"
assert logits_small.shape == (2, 5, 7), f"step_logits should have shape (2, 5, 7), got {tuple(logits_small.shape)}"
assert torch.equal(tokens_small[:, :3], small_prompt), "tokens should begin with the prompt"
assert torch.equal(tokens_small[:, 3:], logits_small.argmax(-1)), (
    "each new token should be the argmax of its step's logits (greedy decoding)")
for i in range(5):  # a call on the prefix alone runs the prompt pass only: no cache is read
    _, fresh = generate(small_lm, tokens_small[:, :3 + i], 1)
    assert torch.allclose(logits_small[:, i], fresh[:, 0], rtol=1e-4, atol=1e-5), (
        f"the logits of new token {i} differ from those of a fresh call on the same {3 + i} tokens: what the "
        "cached steps compute is wrong (the cache, the new token's position, or its mask)")
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_generate_cache", "locked": true, "points": 3}
### BEGIN HIDDEN TESTS
from lab.checks import kv_cache as _checks; _checks.GROUPS.run("cache", generate)
### END HIDDEN TESTS
seen = []  # (queries, keys) of every call of the first layer's attention


def counting_attend(q, k, v, mask=None, _attend=small_lm.layers[0].self_attn.attend):
    seen.append((q.shape[-2], k.shape[-2]))
    return _attend(q, k, v, mask)


small_lm.layers[0].self_attn.attend = counting_attend
try:
    _, logits_small = generate(small_lm, small_prompt, 4)
finally:
    del small_lm.layers[0].self_attn.attend  # back to the class's own method
# the prompt in one pass, or fed one position at a time through the cache: both are cached decoding
assert seen[:4] == [(3, 3), (1, 4), (1, 5), (1, 6)] or seen[:6] == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6)], (
    f"the first layer's attention got (queries, keys) = {seen}: expected the 3 prompt positions (at once, or one "
    "at a time), then one query, the newest token, per step over one more cached key each time: "
    "[(3, 3), (1, 4), (1, 5), (1, 6)]")
assert not logits_small.requires_grad, "step_logits require grad: run the work under torch.no_grad()"
assert torch.is_grad_enabled(), (
    "gradients are still off after generate returned: use `with torch.no_grad():`, which switches them back on")
print("visible tests passed")

# %% [markdown]
# Your `generate` on the trained model: it should choose the same tokens as `greedy_no_cache`.

# %%
if Block is DecoderOnlyBlock:
    generated_cached, _ = generate(model, TEST_SEQUENCES[:, :PROMPT_LEN], NUM_DIGITS)
    agree = (generated_cached == generated).all(dim=1).float().mean().item()
    print(f"same tokens as greedy_no_cache on {agree:.1%} of the {len(TEST_SEQUENCES)} test sequences; "
          f"answer accuracy {answer_accuracy(generated_cached):.1%}")
else:
    print("The trained model is made of TorchBlock, which has no parts for generate: write DecoderOnlyBlock (4a).")

# %% [markdown]
# ## 6. What the cache buys, measured
#
# Tokens generated per second, with your `generate` and with `greedy_no_cache`, for 16 and 256 new tokens after a
# prompt of 8, by a model of the same size with room for 512 positions (untrained: the speed does not depend on
# the weights). `torch.utils.benchmark` warms up, fixes the number of threads and repeats each measurement; the
# median is reported. Your numbers depend on your machine; the text after them is computed from them. The cell is
# skipped when nbgrader validates or grades your notebook: timings are not graded.

# %% tags=["nbval-ignore-output"]
def tokens_per_second(decode, model, prompt, num_new_tokens):
    timer = benchmark.Timer(stmt="decode(model, prompt, n)", num_threads=torch.get_num_threads(),
                            globals={"decode": decode, "model": model, "prompt": prompt, "n": num_new_tokens})
    # repeated until the spread is under 10% of the median, for at most 1 s: one slow run does not decide
    return prompt.shape[0] * num_new_tokens / timer.adaptive_autorange(threshold=0.1, max_run_time=1.0).median


SPEED_LENGTHS = (16, 256)
if GRADING or Block is not DecoderOnlyBlock:
    speeds = None
    print("Skipped while validating or grading (timings are not graded), or until your DecoderOnlyBlock runs.")
else:
    torch.manual_seed(0)
    speed_model = TinyLM(VOCAB, 512, block=Block, norm=RMSNorm, d_model=64, num_heads=4, num_layers=2,
                         d_ff=128).eval()
    speed_prompt = torch.randint(0, VOCAB, (1, 8))
    speeds = {n: (tokens_per_second(generate, speed_model, speed_prompt, n),
                  tokens_per_second(greedy_no_cache, speed_model, speed_prompt, n)) for n in SPEED_LENGTHS}
    for n, (cached, uncached) in speeds.items():
        print(f"{n:4d} new tokens: {cached:8.0f} tokens/s with the cache, {uncached:8.0f} without "
              f"({cached / uncached:.1f}x)")
    short, long = (speeds[n][0] / speeds[n][1] for n in SPEED_LENGTHS)
    trend = "the longer the text, the more it gained" if long > short else "it did not gain more on the longer text"
    print(f"On this machine the cache made generation {short:.1f}x as fast for {SPEED_LENGTHS[0]} new tokens and "
          f"{long:.1f}x as fast for {SPEED_LENGTHS[1]}: {trend}.")

# %% [markdown]
# In five runs of the cell above on a 2-core CPU (torch 2.13, one thread, a machine busy with other jobs; December
# 2026), the cache made generation **0.7x to 1.8x as fast for 16 new tokens and 2.7x to 10.6x as fast for 256**: in
# those five the longer text always gained more. A sixth run, on the same machine while it was busier, gave 1.6x
# for both. Timings this short, on a busy machine, are easily disturbed, and yours will differ; if your run shows no
# trend, run the cell again and compare.
# For 16 tokens the gain is small, or none: the prefixes are at most 24 positions long, a cached step does a few more
# small operations than a full pass (joining the cache, building the mask), and skipping the recomputation of so
# few positions in a layer this small saves little.
# Without the cache, step `t` runs all `t` positions through every layer, so the time per token grows with the
# length (and the total with its square); with it, a step runs one position through every layer and only its
# attention reads the `t` cached keys, a small part of the work at this size. The price is memory: two
# `(batch, heads, length, d_k)` tensors per layer, which for large models and long texts is what limits how many
# sequences a GPU can serve at once.
#
# ## 7. Exercise 4c: what the causal mask buys
#
# Train the same model, on the same sequences from the same seed, once more, but **without the causal mask**
# (`causal=False`): in training every position may attend to every other, later ones included. It generates the
# same way, without the mask (as it was trained). The cell prints, for both models, the final training loss and
# the generation accuracy, and plots both loss curves. Run it yourself (not under Validate, which cuts the
# training short): your answer below uses the numbers it prints.

# %%
unmasked = new_model()
losses_unmasked = train(unmasked, causal=False)
generated_unmasked = greedy_no_cache(unmasked, TEST_SEQUENCES[:, :PROMPT_LEN], NUM_DIGITS, causal=False)
accuracy_unmasked = answer_accuracy(generated_unmasked)
final_loss_unmasked = sum(losses_unmasked[-20:]) / 20
print("model                  final training loss   generation accuracy")
print(f"with the causal mask   {final_loss:19.4f}   {accuracy:19.1%}")
print(f"without it             {final_loss_unmasked:19.4f}   {accuracy_unmasked:19.1%}")
print("one sequence generated without the mask:", show(generated_unmasked[0]))

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(losses, label="with the causal mask")
ax.plot(losses_unmasked, label="without the causal mask")
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("training loss (log scale)")
ax.legend()
plt.show()

# %% [markdown]
# ### Exercise 4c: explain the numbers (graded by your instructor)
#
# **Paste the table the cell above printed in your run** (the four numbers) at the top of your answer: your
# instructor grades from them, and the grading run of your notebook trains too briefly to show them. Then, in four
# to six sentences: which model reached the lower training loss, and which
# one generates the right answers? Explain both: what can a position see when it predicts the next token in
# training, and what can it see when the model generates? And why does the loss of the model *with* the mask stop
# near the value it stops at?

# %% [markdown] nbgrader={"grade": true, "grade_id": "explain_causal_mask", "points": 3, "solution": true}
# ### BEGIN SOLUTION
# Model answer: without the causal mask the training loss fell almost to zero (0.0021 in the run of the solution,
# against 0.969 with the mask), yet the model got only about a quarter of the answer digits right when generating
# (25.4% against 100%). In training the whole sequence goes in at once (teacher forcing) and position i predicts
# token i+1, which is also in the input: without the mask position i can attend to position i+1 and copy it, so
# the model learns to copy, and copying is easier than computing running sums. When it generates, token i+1 does
# not exist yet (it is what is being predicted), so there is nothing to copy and it guesses: training and
# generation no longer see the same thing. With the mask the model can only use the past, so it must learn the
# sum; its loss cannot go much lower because 5 of the 12 predicted tokens (digits 2 to 6) are random: they cost
# ln 10 = 2.30 each, 5/12 x 2.30 = 0.96 on average, while the separator and the 6 answer digits are predicted
# almost perfectly. A low training loss is not a measure of the task when the training input contains the answer.
#
# Mark scheme (3 points):
# - 1 point: the unmasked model's low loss comes from reading (copying) the next token, which the input contains
#   in training (teacher forcing); the numbers of their own run pasted and used.
# - 1 point: generation collapses because the next token does not exist at generation time: what the model learned
#   (copying) cannot work there; training and generation conditions differ.
# - 1 point: the masked loss floor: the first digits are random and cannot be predicted from the past (about
#   5/12 x ln 10 = 0.96), while the answer digits are predicted almost perfectly.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# - Attention is blind to order; position embeddings (learned here) tell the model where each token is.
# - A decoder-only block is exercise 1's decoder block without cross-attention: causal self-attention and a
#   feed-forward network, each a pre-norm residual sublayer (here with RMSNorm). A decoder-only language model is
#   embeddings, a stack of such blocks, a final norm and a head, trained to predict every next token at once
#   (teacher forcing).
# - Generation runs the model one token at a time. A KV cache keeps every layer's keys and values, so each step
#   runs only the newest token; the logits are those of the full forward pass, and the gain grows with the length.
#   Its price is memory: two tensors per layer that grow with the text.
#
# ## References
#
# - A. Vaswani et al. *Attention Is All You Need.* NeurIPS 2017. arXiv:1706.03762.
# - A. Radford et al. *Language Models are Unsupervised Multitask Learners* (GPT-2). OpenAI, 2019.
# - O. Press, L. Wolf. *Using the Output Embedding to Improve Language Models.* EACL 2017. arXiv:1608.05859.
# - R. Pope et al. *Efficiently Scaling Transformer Inference.* MLSys 2023. arXiv:2211.05102 (the KV cache's
#   memory cost at scale).
# - A. Haviv, O. Ram, O. Press, P. Izsak, O. Levy. *Transformer Language Models without Positional Encodings Still
#   Learn Positional Information.* Findings of EMNLP 2022. arXiv:2203.16634.
# - B. Zhang, R. Sennrich. *Root Mean Square Layer Normalization.* NeurIPS 2019. arXiv:1910.07467.
# - A. Karpathy. *nanoGPT* (github.com/karpathy/nanoGPT): a small GPT trained and sampled on a laptop.
