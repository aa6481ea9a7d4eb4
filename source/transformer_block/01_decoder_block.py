# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercise 1: the Transformer decoder block
#
# **Learning goals.** After this notebook you can
# - name the three sublayers of a Transformer decoder block and say what each one attends to;
# - write a pre-norm residual sublayer, `x + Dropout(Sublayer(Norm(x)))`, and say how it differs from post-norm;
# - explain why the decoder's self-attention is causal and its cross-attention is not;
# - build causal and padding masks in the shape an attention module broadcasts, with the right polarity.
#
# **Estimated time:** 60 minutes. The solved notebook runs in under half a minute on a laptop CPU.
#
# | part | what you do | graded |
# | --- | --- | --- |
# | 1a | the mask helpers `causal_mask` and `padding_mask` (a warm-up: 2 of the notebook's 14 points) | automatically (visible and hidden tests) |
# | 1b | `TransformerDecoderBlock` | automatically (visible and hidden tests) |
# | 1c | explain, in a few sentences, why the cross-attention is not causal | by your instructor |

# %% tags=["nbval-ignore-output"]
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)
print("torch", torch.__version__)

# %% include="autograder/cells/warnings_as_output.py" nbgrader={"grade_id": "provided_warnings", "locked": true}

# %% [markdown]
# ## 0. Provided: multi-head attention
#
# The cell below is the `MultiHeadAttention` of the attention lesson (`notebooks/01_multi_head_attention`),
# provided and read-only: you do not write it. What you need from it:
#
# - `MultiHeadAttention(d_model, num_heads, dropout=0.1)` has the projections `W_q, W_k, W_v, W_o` and applies
#   dropout (with probability `dropout`) to its attention weights.
# - `forward(query, key, value, mask=None)`: `query` is `(batch, q_len, d_model)`, `key` and `value` are
#   `(batch, k_len, d_model)`; the output is `(batch, q_len, d_model)`.
# - `mask` is anything that broadcasts to `(batch, num_heads, q_len, k_len)`. **True (nonzero) means "may
#   attend"**, False means "blocked". (PyTorch's `nn.MultiheadAttention` uses the *opposite* convention: there
#   True means blocked. Mixing the two up is the most common masking bug.)
# - With `keep_weights=True` (off by default; `mha.keep_weights = True` switches it on), `attn_weights` holds the
#   last call's attention weights `(batch, num_heads, q_len, k_len)`, for plotting.

# %% include="lab/provided/attention.py" nbgrader={"grade_id": "provided_mha", "locked": true}

# %% [markdown]
# ## 1. The idea
#
# In an encoder-decoder Transformer (Vaswani et al., 2017), say for translation, the **encoder** reads the whole
# source sentence and returns one vector per source token, the `encoder_output`, of shape
# `(batch, S, d_model)`. The **decoder** produces the target sentence one token at a time; each of its blocks
# maps the target representations `x`, of shape `(batch, T, d_model)`, to new ones of the same shape, using three
# sublayers:
#
# | sublayer | queries from | keys and values from | mask |
# | --- | --- | --- | --- |
# | 1. self-attention | the target `x` | the target `x` | **causal** (and target padding) |
# | 2. cross-attention | the target `x` | the `encoder_output` | source **padding** only |
# | 3. feed-forward network (FFN) | each target position on its own | | none |
#
# **Pre-norm residuals.** Each sublayer is wrapped as
#
# $$x \leftarrow x + \mathrm{Dropout}\big(\mathrm{Sublayer}(\mathrm{LayerNorm}(x))\big).$$
#
# The original Transformer normalised *after* the residual sum (post-norm, $\mathrm{LayerNorm}(x +
# \mathrm{Sublayer}(x))$). Xiong et al. (2020) showed that post-norm puts large gradients near the output at
# initialisation and needs a learning-rate warm-up, while pre-norm keeps an un-normalised "residual stream" from
# input to output and trains stably without one. GPT-2 and most models since use pre-norm (with one final
# LayerNorm after the last block, outside the block).
#
# **The masks of the two attentions.** In training, the whole target sentence goes in at once (teacher
# forcing) and position $i$ is trained to predict token $i+1$. The **causal mask** lets target position $i$
# attend to target positions $0, \dots, i$ only; the cross-attention has no such mask, and every target position
# may attend to every real source token. Why each is so is question 1c; exercise 4 trains a small language model
# once without the causal mask and measures what happens.
#
# **Padding.** Sentences in a batch have different lengths, so short ones are padded to the longest. A
# **padding mask** keeps attention away from padded keys: padded source tokens get no weight in the
# cross-attention (and padded target tokens none in the self-attention). The outputs *at* padded target
# positions are meaningless and are ignored by the loss.
#
# | mask | shape | True at `[..., i, j]` when |
# | --- | --- | --- |
# | causal | `(T, T)` | `j <= i` (key `j` is not in query `i`'s future) |
# | padding | `(batch, 1, 1, L)` | `j < length[b]` (key `j` is a real token) |
#
# Both broadcast to `(batch, num_heads, q_len, k_len)`; combine them with `&`. Figure 1 (after exercise 1a) draws
# these masks as your helpers build them; Figure 2 (after exercise 1b) shows the self- and cross-attention
# weights of your block on a small example, with the masks at work.

# %% [markdown]
# ## 2. Exercise 1a: the mask helpers
#
# A warm-up worth 2 points: lesson 1 built both masks inline; here they become the two functions that 1b's tests
# and Figure 1 call, so a polarity or shape slip shows up now, in a small test, rather than inside the block.
#
# **The API your functions must meet** (the tests rely on exactly this, and on nothing else):
#
# - `causal_mask(T)` returns a **bool** tensor of shape `(T, T)`, **True** at `[i, j]` when position `i` may
#   attend to position `j`, i.e. when `j <= i` (the diagonal is True: a position sees itself).
# - `padding_mask(lengths, max_len=None)`: `lengths` is a 1-D integer tensor of shape `(batch,)`. It returns a
#   **bool** tensor of shape `(batch, 1, 1, max_len)`, **True** at `[b, 0, 0, j]` when `j < lengths[b]` (a real
#   token), False at the padding. `max_len` defaults to the largest length.
#
# **Hint.** `torch.tril`, or compare `torch.arange(...)` with itself or with `lengths[:, None]`; `x[:, None, None,
# :]` inserts the two broadcast dimensions.

# %% nbgrader={"grade_id": "decoder_masks_impl", "solution": true}
def causal_mask(T):
    ### BEGIN SOLUTION
    return torch.ones(T, T, dtype=torch.bool).tril()
    ### END SOLUTION


def padding_mask(lengths, max_len=None):
    ### BEGIN SOLUTION
    if max_len is None:
        max_len = int(lengths.max())
    positions = torch.arange(max_len, device=lengths.device)
    return (positions[None, :] < lengths[:, None])[:, None, None, :]
    ### END SOLUTION


# %% [markdown]
# ### Tests for 1a
#
# The cells below check small examples. More tests (hidden) run when your notebook is graded: other lengths,
# `T = 1`, the default `max_len`, and the polarity of every entry.

# %% nbgrader={"grade": true, "grade_id": "test_causal_mask", "locked": true, "points": 1}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("causal_mask", causal_mask)
### END HIDDEN TESTS
m4 = causal_mask(4)
assert isinstance(m4, torch.Tensor), f"causal_mask should return a tensor, got {type(m4).__name__}"
assert m4.shape == (4, 4), f"causal_mask(4) should have shape (4, 4), got {tuple(m4.shape)}"
assert m4.dtype == torch.bool, f"causal_mask should return a bool tensor, got {m4.dtype}"
assert bool(m4[3, 0]) and not bool(m4[0, 3]), (
    "polarity: position 3 may attend to position 0 (True), position 0 may not attend to position 3 (False)")
assert bool(m4.diagonal().all()), "every position may attend to itself: the diagonal should be True"
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_padding_mask", "locked": true, "points": 1}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("padding_mask", padding_mask)
### END HIDDEN TESTS
pm = padding_mask(torch.tensor([3, 1]), 4)
assert isinstance(pm, torch.Tensor), f"padding_mask should return a tensor, got {type(pm).__name__}"
assert pm.shape == (2, 1, 1, 4), f"padding_mask(torch.tensor([3, 1]), 4) should have shape (2, 1, 1, 4), got {tuple(pm.shape)}"
assert pm.dtype == torch.bool, f"padding_mask should return a bool tensor, got {pm.dtype}"
assert pm[:, 0, 0].tolist() == [[True, True, True, False], [True, False, False, False]], (
    "padding_mask(torch.tensor([3, 1]), 4) should be True at the 3 and 1 real tokens and False at the padding, "
    f"got {pm[:, 0, 0].tolist()}")
pm_default = padding_mask(torch.tensor([2, 5, 3]))
assert pm_default.shape == (3, 1, 1, 5), (
    f"without max_len, padding_mask(torch.tensor([2, 5, 3])) should have shape (3, 1, 1, 5): max_len defaults to the "
    f"largest length (5), got {tuple(pm_default.shape)}")
print("visible tests passed")

# %% [markdown]
# ### Figure 1: your masks
#
# Yellow is True ("may attend"). Left: the causal mask of a 6-token target. Middle: the padding mask of a batch
# of three source sentences of lengths 6, 4 and 2 (one row per sentence). Right: what the self-attention of the
# third sentence sees if the *target* also had length 2 padded to 6, `causal_mask(6) & padding_mask(...)`:
# its queries 2..5 are padding, whose outputs the loss ignores.

# %%
lengths_demo = torch.tensor([6, 4, 2])
combined = causal_mask(6) & padding_mask(lengths_demo, 6)  # (3, 1, 6, 6)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
panels = [(causal_mask(6), "causal_mask(6)", "key position j", "query position i"),
          (padding_mask(lengths_demo, 6)[:, 0, 0], "padding_mask([6, 4, 2], 6)", "key position j", "sentence b"),
          (combined[2, 0], "causal & padding, sentence 2", "key position j", "query position i")]
for ax, (mask, title, xlabel, ylabel) in zip(axes, panels):
    ax.imshow(mask.int(), cmap="viridis", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(range(mask.shape[1]))
    ax.set_yticks(range(mask.shape[0]))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Exercise 1b: the decoder block
#
# **The API your class must meet** (the tests rely on exactly this, and on nothing else):
#
# - `TransformerDecoderBlock(d_model, num_heads, d_ff=None, dropout=0.1)` is an `nn.Module` with these
#   attributes:
#   - `self_attn` and `cross_attn`: two separate `MultiHeadAttention(d_model, num_heads, dropout)` (the provided
#     class; pass it the block's `dropout`, so that it applies dropout to its attention weights);
#   - `ffn`: an `nn.Sequential` of `nn.Linear(d_model, d_ff)`, `nn.GELU()` (the exact GELU, PyTorch's default),
#     `nn.Dropout(dropout)`, `nn.Linear(d_ff, d_model)`, in this order; `d_ff` defaults to `4 * d_model`;
#   - `norm1`, `norm2`, `norm3`: three separate `nn.LayerNorm(d_model)` (default `eps`), one per sublayer;
#   - `dropout`: an `nn.Dropout(dropout)`, applied to each sublayer's output before it is added to the residual.
# - `forward(x, encoder_output, self_mask=None, cross_mask=None)`: `x` is `(batch, T, d_model)`,
#   `encoder_output` is `(batch, S, d_model)` (`S` may differ from `T`). It computes, in this order,
#   1. `x = x + dropout(self_attn(norm1(x), norm1(x), norm1(x), self_mask))`
#   2. `x = x + dropout(cross_attn(norm2(x), encoder_output, encoder_output, cross_mask))`
#   3. `x = x + dropout(ffn(norm3(x)))`
#
#   and returns a tensor of `x`'s shape. The masks follow the provided attention's convention (True = may
#   attend): `self_mask` is typically `causal_mask(T)`, possibly `&` a target padding mask, `cross_mask` a
#   source `padding_mask`. The block uses **exactly the masks it is given** (`None` means no mask) and builds
#   none itself, so the caller decides. It does not modify its inputs (write `x = x + ...`, not `x += ...`).
#
# Nothing else: no dropout anywhere else, no final LayerNorm (that belongs after the last block of a stack).
# With the same weights, your block computes the same function as PyTorch's
# `nn.TransformerDecoderLayer(d_model, num_heads, d_ff, dropout, activation="gelu", batch_first=True,
# norm_first=True)`.

# %% nbgrader={"grade_id": "decoder_block_impl", "solution": true}
class TransformerDecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        ### BEGIN SOLUTION
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        ### BEGIN SOLUTION
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, h, self_mask))
        h = self.norm2(x)
        x = x + self.dropout(self.cross_attn(h, encoder_output, encoder_output, cross_mask))
        return x + self.dropout(self.ffn(self.norm3(x)))
        ### END SOLUTION


# %% [markdown]
# ### Tests for 1b
#
# The visible tests check, on small examples: the attributes, the shape and the parameter count; that each mask
# is used where it belongs, and only the masks given; that the residual stream passes through the block
# un-normalised and that `encoder_output` reaches the cross-attention as given; and that evaluation mode turns
# dropout off. When one fails, its message names the likely mistake. The hidden tests check everything the API
# states: equality with `nn.TransformerDecoderLayer` with your weights copied across (random weights, target and
# source of different lengths, per-sentence masks), the influence of every target and source position, gradients,
# and dropout in training and evaluation mode.

# %% nbgrader={"grade": true, "grade_id": "test_block_api", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("api", TransformerDecoderBlock)
### END HIDDEN TESTS
block = TransformerDecoderBlock(32, 4)
for name in ["self_attn", "cross_attn", "ffn", "norm1", "norm2", "norm3", "dropout"]:
    assert hasattr(block, name), f"the block should have an attribute `{name}`"
x_test, enc_test = torch.randn(2, 5, 32), torch.randn(2, 7, 32)  # target length 5, source length 7
y_test = block(x_test, enc_test)
assert isinstance(y_test, torch.Tensor), f"forward should return a tensor, got {type(y_test).__name__}"
assert y_test.shape == (2, 5, 32), f"output shape {tuple(y_test.shape)} should equal x's (2, 5, 32)"
ffn_parts = [type(part).__name__ for part in block.ffn]
assert ffn_parts == ["Linear", "GELU", "Dropout", "Linear"], (
    f"ffn should be nn.Sequential(nn.Linear, nn.GELU, nn.Dropout, nn.Linear), in this order; got {ffn_parts}")
n_params = sum(p.numel() for p in block.parameters())
assert n_params == 16992, f"TransformerDecoderBlock(32, 4) should have 16992 parameters, has {n_params}"
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_block_masking", "locked": true, "points": 3}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("masking", TransformerDecoderBlock)
### END HIDDEN TESTS
torch.manual_seed(1)
block = TransformerDecoderBlock(32, 4).eval()
x_test, enc_test = torch.randn(2, 6, 32), torch.randn(2, 4, 32)
causal_test = torch.ones(6, 6, dtype=torch.bool).tril()
with torch.no_grad():
    y_test = block(x_test, enc_test, self_mask=causal_test)
    x_changed = x_test.clone()
    x_changed[:, 4:] = torch.randn(2, 2, 32)  # change the last two target positions
    y_changed = block(x_changed, enc_test, self_mask=causal_test)
assert torch.allclose(y_test[:, :4], y_changed[:, :4], atol=1e-5), (
    "changing target positions 4 and 5 changed the outputs at positions 0..3: with a causal self_mask, a "
    "position must not see later positions (is self_mask passed to the self-attention?)")
assert not torch.allclose(y_test[:, 4:], y_changed[:, 4:], atol=1e-5), (
    "changing target positions 4 and 5 did not change their own outputs")
with torch.no_grad():
    y_unmasked, y_unmasked_changed = block(x_test, enc_test), block(x_changed, enc_test)
assert not torch.allclose(y_unmasked[:, :4], y_unmasked_changed[:, :4], atol=1e-5), (
    "called with self_mask=None, the block still hid later target positions from earlier ones: it should use "
    "exactly the masks it is given (None means no mask) and build none itself")
# Sentence 1 of the source has 2 real tokens and 2 padded ones (False: may not be attended to).
cross_test = torch.tensor([[True, True, True, True], [True, True, False, False]])[:, None, None, :]
enc_padding_changed = enc_test.clone()
enc_padding_changed[1, 2:] = torch.randn(2, 32)  # change sentence 1's padded source positions
enc_last_real_changed = enc_test.clone()
enc_last_real_changed[0, 3] = torch.randn(32)  # change sentence 0's last real source token
with torch.no_grad():
    y_cross = block(x_test, enc_test, self_mask=causal_test, cross_mask=cross_test)
    y_padding_changed = block(x_test, enc_padding_changed, self_mask=causal_test, cross_mask=cross_test)
    y_last_real_changed = block(x_test, enc_last_real_changed, self_mask=causal_test, cross_mask=cross_test)
assert torch.allclose(y_cross, y_padding_changed, atol=1e-5), (
    "changing padded source positions (False in cross_mask) changed the output: is cross_mask passed to the "
    "cross-attention?")
assert not torch.allclose(y_cross[0], y_last_real_changed[0], atol=1e-5), (
    "changing a real source token did not change the output: does the cross-attention read encoder_output?")
assert not torch.allclose(y_cross[0, 0], y_last_real_changed[0, 0], atol=1e-5), (
    "changing the last real source token did not change the output at target position 0: the cross-attention "
    "should let every target position attend to every real source token (its only mask is cross_mask)")
print("visible tests passed")

# %% nbgrader={"grade": true, "grade_id": "test_block_values", "locked": true, "points": 3}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("values", TransformerDecoderBlock)
### END HIDDEN TESTS
torch.manual_seed(2)
block = TransformerDecoderBlock(16, 2).eval()
x_test, enc_test = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
with torch.no_grad():
    y_test = block(x_test, enc_test)
assert bool(torch.isfinite(y_test).all()), "the output contains inf or NaN"
assert not torch.allclose(y_test, x_test, atol=1e-3), (
    "the output equals the input: is each sublayer's output added to the residual stream?")
with torch.no_grad():
    y_enc_moved = block(x_test, 3 * enc_test + 1)
assert not torch.allclose(y_test, y_enc_moved, atol=1e-5), (
    "scaling and shifting encoder_output (3 * encoder_output + 1) did not change the output: the block normalises "
    "encoder_output (or does not use it). The cross-attention's keys and values are encoder_output as given.")
# With the last linear map of every sublayer set to zero, each sublayer outputs zeros: a pre-norm block then
# returns its input unchanged, x + 0 + 0 + 0.
with torch.no_grad():
    ffn_linears = [part for part in block.ffn if isinstance(part, nn.Linear)]
    for last_linear in (block.self_attn.W_o, block.cross_attn.W_o, ffn_linears[-1]):
        for parameter in last_linear.parameters():
            parameter.zero_()
    y_zero = block(x_test, enc_test)
assert not torch.allclose(y_zero, torch.zeros_like(y_zero)), (
    "with every sublayer's output zero, the block returned zeros: a sublayer's output replaced x instead of being "
    "added to it (a residual connection is missing: x = x + dropout(sublayer(...)))")
normalised = (torch.allclose(y_zero.mean(-1), torch.zeros(2, 3), atol=1e-4)
              and torch.allclose(y_zero.std(-1, unbiased=False), torch.ones(2, 3), atol=1e-3))
assert not normalised, (
    "with every sublayer's output zero, each output token has mean 0 and variance 1: the residual stream itself "
    "went through a LayerNorm (post-norm, or a norm after the last addition). In a pre-norm block each LayerNorm's "
    "output only feeds its sublayer: x = x + dropout(sublayer(norm(x)))")
assert torch.allclose(y_zero, x_test, atol=1e-6), (
    "with every sublayer's output zero, a pre-norm block returns its input unchanged (x + 0 + 0 + 0); yours "
    "changed it")
print("visible tests passed")
# The hidden tests compare your block with nn.TransformerDecoderLayer, given the same weights (section 3).

# %% nbgrader={"grade": true, "grade_id": "test_block_training", "locked": true, "points": 2}
### BEGIN HIDDEN TESTS
from lab.checks import decoder as _checks; _checks.GROUPS.run("training", TransformerDecoderBlock)
### END HIDDEN TESTS
block = TransformerDecoderBlock(16, 2, dropout=0.5).eval()
x_test, enc_test = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
with torch.no_grad():
    same = torch.equal(block(x_test, enc_test), block(x_test, enc_test))
assert same, "in eval mode (block.eval()) two calls should give the same output: dropout must be off"
print("visible test passed")

# %% [markdown]
# ### Figure 2: what each attention looks at
#
# A tiny, untrained block (random weights) on a batch of two: a target of 6 tokens and a source of 5 tokens, the
# second source sentence padded from 3 to 5. Each heatmap shows head 0's attention weights (rows: target
# positions, the queries; columns: the keys). The *values* are random because nothing is trained; the *zeros*
# are the masks at work: the self-attention never looks right of the diagonal, and the cross-attention looks
# at every real source token from every target position, and never at the padding.

# %%
torch.manual_seed(0)
demo_block = TransformerDecoderBlock(16, 2, dropout=0.0).eval()
demo_block.self_attn.keep_weights = demo_block.cross_attn.keep_weights = True  # for the plots below
x_demo, enc_demo = torch.randn(2, 6, 16), torch.randn(2, 5, 16)
src_lengths = torch.tensor([5, 3])
with torch.no_grad():
    demo_block(x_demo, enc_demo, self_mask=causal_mask(6), cross_mask=padding_mask(src_lengths, 5))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
panels = [(demo_block.self_attn.attn_weights[1, 0], "self-attention (causal), sentence 1", "target key position"),
          (demo_block.cross_attn.attn_weights[0, 0], "cross-attention, sentence 0 (5 real)", "source position"),
          (demo_block.cross_attn.attn_weights[1, 0], "cross-attention, sentence 1 (3 real)", "source position")]
for ax, (weights, title, xlabel) in zip(axes, panels):
    image = ax.imshow(weights, cmap="magma", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("target (query) position")
fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
plt.show()
print("self-attention weight above the diagonal:",
      f"{demo_block.self_attn.attn_weights.triu(1).abs().sum().item():.1f}")
print("cross-attention weight on padded source positions:",
      f"{demo_block.cross_attn.attn_weights[1, :, :, 3:].abs().sum().item():.1f}")

# %% [markdown]
# ### Try it: what can each position see?
#
# The cell below changes only the **last** target token of the example above and, separately, only the last
# source token of sentence 0, and prints the target positions whose output changed: once with the causal
# self-mask, once without it. Before running it, predict the answer.

# %%
def positions_that_changed(y, y_changed):
    return [int(i) for i in ((y - y_changed).abs().amax(dim=-1) > 1e-5).any(dim=0).nonzero().flatten()]


torch.manual_seed(0)
x_last, enc_last = x_demo.clone(), enc_demo.clone()
x_last[:, -1] = torch.randn(2, 16)  # a different last target token
enc_last[0, -1] = torch.randn(16)  # a different last (real) source token of sentence 0
with torch.no_grad():
    for label, self_mask in [("with the causal self-mask", causal_mask(6)), ("without any self-mask", None)]:
        run = lambda x, enc: demo_block(x, enc, self_mask=self_mask, cross_mask=padding_mask(src_lengths, 5))
        y = run(x_demo, enc_demo)
        changed_by_target = positions_that_changed(y, run(x_last, enc_demo))
        changed_by_source = positions_that_changed(y[:1], run(x_demo, enc_last)[:1])
        print(f"{label:27s} last target token changed outputs at {changed_by_target}; "
              f"last source token at {changed_by_source}")

# %% [markdown]
# ## 4. Exercise 1c: why is the cross-attention not causal? (graded by your instructor)
#
# In three to five sentences: why must the decoder's self-attention be causal, while its cross-attention uses
# only a padding mask? What would a model trained *without* the causal self-mask do at generation time, and
# what would it lose if its cross-attention were made causal (target position `i` only seeing source positions
# `0..i`)?
#
# Use the experiment above and, if you have done it, exercise 4c of notebook `04_tiny_language_model`, which
# trains a small language model once with and once without the causal mask and compares its training loss
# with what it generates.

# %% [markdown] nbgrader={"grade": true, "grade_id": "explain_cross_attention", "points": 2, "solution": true}
# ### BEGIN SOLUTION
# Model answer: in training the whole target sentence is fed at once (teacher forcing) and position i is trained
# to predict token i+1; without the causal mask position i could attend to token i+1 and copy it, so the model
# would learn to copy instead of predict and would fail at generation time, when the later tokens do not exist
# yet (the training and generation conditions would differ). The encoder output, by contrast, is the source
# sentence, known completely before decoding starts: it holds no information about the target's future, so
# there is nothing to hide and every target position may use every real source token. A causal cross-attention
# would stop early target positions from seeing later source words, which they often need (word order differs
# between languages, e.g. a German verb at the end of the clause), and would make no sense when source and
# target lengths differ. The padding mask is still needed, because padded source positions carry no information.
#
# The experiment before the question shows the mechanism: with the causal self-mask, a new last target token
# changes the output at the last position only; without it, it changes the outputs at every position (each
# position's prediction could read a later token); a new source token changes every target position either way.
#
# Mark scheme (2 points):
# - 1 point: causal self-attention prevents looking at (copying) the future target tokens it must predict;
#   training with teacher forcing must match generation, where the future does not exist.
# - 1 point: the source is fully known before decoding, so cross-attention may see all of it; a causal
#   cross-attention would throw away source context (e.g. word order) for no reason. Only padding is masked.
# ### END SOLUTION

# %% [markdown]
# ## Summary
#
# - A decoder block has three sublayers: causal self-attention over the target, cross-attention from the target
#   to the encoder output, and a position-wise FFN.
# - Pre-norm: `x = x + Dropout(Sublayer(LayerNorm(x)))`, with one LayerNorm per sublayer; the residual stream
#   itself is never normalised inside the block.
# - Masks here say True = "may attend" and broadcast to `(batch, heads, q_len, k_len)`: causal `(T, T)`,
#   padding `(batch, 1, 1, L)`. PyTorch's `nn.MultiheadAttention` and `nn.TransformerDecoderLayer` use the
#   opposite polarity (True = blocked): check the convention every time you pass a mask to someone else's code.
# - The self-attention gets a causal mask, the cross-attention does not (your answer to 1c says why). Padding
#   is masked on the key side in both.
#
# ## References
#
# - A. Vaswani et al. *Attention Is All You Need.* NeurIPS 2017. arXiv:1706.03762.
# - R. Xiong et al. *On Layer Normalization in the Transformer Architecture.* ICML 2020. arXiv:2002.04745.
# - J. L. Ba, J. R. Kiros, G. E. Hinton. *Layer Normalization.* 2016. arXiv:1607.06450.
# - D. Hendrycks, K. Gimpel. *Gaussian Error Linear Units (GELUs).* 2016. arXiv:1606.08415.
# - PyTorch documentation: `torch.nn.TransformerDecoderLayer`, `torch.nn.MultiheadAttention` (mask conventions),
#   `torch.nn.functional.scaled_dot_product_attention`.
