# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 1: multi-head attention, from scratch
#
# **Learning goals.** After this lesson you can
# - compute scaled dot-product attention by hand and in PyTorch, and say what queries, keys and values are;
# - explain why the scores are divided by $\sqrt{d_k}$, with a measurement of what goes wrong without it;
# - build causal and padding masks, combine them, and convert between the two mask conventions in PyTorch
#   (`F.scaled_dot_product_attention`: True = *may attend*; `nn.MultiheadAttention`: True = *blocked*);
# - recognise the fully-masked-row NaN trap and fix it;
# - split a model dimension into heads and merge them back, and read the course's `MultiHeadAttention` class
#   (the one the exercises give you), checked here against PyTorch's own implementations;
# - read attention weights as heatmaps.
#
# **Estimated time:** 60 minutes. The notebook runs top to bottom in well under a minute on a laptop CPU.
#
# **You need:** matrix multiplication, softmax, and `nn.Linear`. Nothing about Transformers.

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

# Every tensor in this lesson is tiny: one CPU thread runs it faster than several (threads cost more to start
# and synchronise than they save), keeps it fast on a busy machine, and makes the results repeat exactly.
torch.set_num_threads(1)
torch.manual_seed(0)
torch.set_printoptions(precision=3, sci_mode=False)

# %% [markdown]
# ## 1. Attention is a soft dictionary look-up
#
# A sequence of tokens is a sequence of vectors. Attention lets every position gather information from other
# positions. Each position produces three vectors:
#
# - a **query** $q$: what this position is looking for;
# - a **key** $k$: what this position offers, to be matched against queries;
# - a **value** $v$: what this position hands over when it is matched.
#
# A query is compared with every key by a dot product (a large dot product means a good match). A softmax turns the
# scores of one query into **weights** that are positive and sum to 1, and the output for that query is the
# weighted average of the values. With all queries stacked as rows of a matrix $Q$ (and keys in $K$, values in $V$):
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}}\right) V ,$$
#
# where $d_k$ is the length of a query/key vector and the softmax runs along each row (over the keys). Section 2
# is about the $\sqrt{d_k}$. Where do $q$, $k$, $v$ come from? In a Transformer, each is computed from the token's
# vector by its own learned linear map (section 5); until then, we simply make them up.
#
# A Python dictionary returns the value of the one key that equals the query; attention returns a blend of all
# values, weighted by how well each key matches.
#
# First by hand: one query, three keys, $d_k = 2$.

# %%
q_hand = torch.tensor([[2.0, 0.0]])                          # (q_len=1, d_k=2)
k_hand = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])   # (k_len=3, d_k=2)
v_hand = torch.tensor([[10.0, 0.0], [0.0, 10.0], [5.0, 5.0]])  # (k_len=3, d_v=2)

scores_hand = q_hand @ k_hand.T / math.sqrt(2)   # dot products 2, 0, 2, divided by sqrt(2)
weights_hand = torch.softmax(scores_hand, dim=-1)
print("scores :", scores_hand)
print("weights:", weights_hand, "(sum", round(weights_hand.sum().item(), 3), ")")
print("output :", weights_hand @ v_hand)

# %% [markdown]
# Keys 1 and 3 match the query equally well (dot product 2), key 2 not at all (0), so keys 1 and 3 get equal
# weights, key 2 a smaller one, and the output is mostly a blend of values 1 and 3.
#
# The same thing for whole batches: the matrix product works on the last two dimensions and treats any leading
# dimensions (batch, heads) as a batch. Here is attention in five lines. It takes a **mask** where `True` means
# "this query may attend to this key" (section 3); masked scores are set to $-\infty$ so that their softmax weight
# is $e^{-\infty} = 0$. (This version has a bug that section 4 is about.)

# %%
def attention(q, k, v, mask=None):
    """q: (..., q_len, d_k); k: (..., k_len, d_k); v: (..., k_len, d_v); mask: True = may attend.

    Returns the output (..., q_len, d_v) and the weights (..., q_len, k_len)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


q = torch.randn(2, 5, 8)   # (batch, q_len, d_k)
k = torch.randn(2, 7, 8)   # (batch, k_len, d_k): the keys may be a different sequence, of another length
v = torch.randn(2, 7, 16)  # (batch, k_len, d_v)
out, weights = attention(q, k, v)
same_as_sdpa = torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6)
print("output", tuple(out.shape), "| weights", tuple(weights.shape), "| rows sum to 1:",
      torch.allclose(weights.sum(-1), torch.ones(2, 5)))
print("equal to F.scaled_dot_product_attention:", same_as_sdpa)

# %% [markdown]
# `F.scaled_dot_product_attention` (SDPA) is PyTorch's fused version of the same formula; on a GPU it runs
# FlashAttention-style kernels that never store the whole weight matrix. We write our own to see every step.
#
# ## 2. Why divide by $\sqrt{d_k}$?
#
# Suppose the entries of $q$ and $k$ are independent with mean 0 and variance 1 (roughly what a freshly
# initialised layer gives). Then $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ independent terms of
# variance 1, so its variance is $d_k$ and its standard deviation $\sqrt{d_k}$. With $d_k = 64$ the scores are
# spread over roughly $\pm 16$, and the softmax of numbers that far apart is almost one-hot: one key takes nearly all
# the weight. A one-hot softmax is also **saturated**: its gradient $\partial p / \partial s =
# \mathrm{diag}(p) - p p^\top$ goes to zero when $p$ is one-hot, so the scores barely learn. Dividing by
# $\sqrt{d_k}$ brings the scores back to standard deviation 1 whatever $d_k$ is (Vaswani et al. 2017, footnote 4).
#
# Measured below: 2000 random queries against 16 random keys, for several $d_k$, with and without the scaling. For
# each we report the spread of the scores, the largest weight of a row (1/16 = 0.06 would be uniform, 1 one-hot),
# and the size of the softmax's gradient (the Frobenius norm of its Jacobian, averaged over rows).

# %%
def softmax_jacobian_norm(p):
    """Frobenius norm of diag(p) - p p^T for each row of p."""
    jac = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)
    return jac.flatten(-2).norm(dim=-1)


torch.manual_seed(0)
d_ks = [4, 16, 64, 256, 1024]
stats = {"unscaled": [], "scaled": []}
table = [f"{'d_k':>5} | {'score std':>17} | {'largest weight':>17} | {'softmax gradient':>17}",
         f"{'':>5} | {'unscaled  scaled':>17} | {'unscaled  scaled':>17} | {'unscaled  scaled':>17}"]
for d_k in d_ks:
    q_rand, k_rand = torch.randn(2000, d_k), torch.randn(16, d_k)
    raw = q_rand @ k_rand.T
    row = []
    for name, scores in [("unscaled", raw), ("scaled", raw / math.sqrt(d_k))]:
        p = torch.softmax(scores, dim=-1)
        result = (scores.std().item(), p.max(-1).values.mean().item(), softmax_jacobian_norm(p).mean().item())
        stats[name].append(result)
        row.append(result)
    (s_u, m_u, g_u), (s_s, m_s, g_s) = row
    table.append(f"{d_k:>5} | {s_u:8.2f} {s_s:8.2f} | {m_u:8.2f} {m_s:8.2f} | {g_u:8.3f} {g_s:8.3f}")
print("\n".join(table))

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
titles = ["spread of the scores (std)", "largest softmax weight (row mean)", "softmax gradient size"]
for i, (ax, title) in enumerate(zip(axes, titles)):
    for name, marker in [("unscaled", "o-"), ("scaled", "s-")]:
        label = "q·k" if name == "unscaled" else "q·k / sqrt(d_k)"
        ax.plot(d_ks, [s[i] for s in stats[name]], marker, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("d_k")
    ax.set_title(title)
axes[1].axhline(1 / 16, color="gray", linestyle=":", label="uniform (1/16)")
axes[0].legend()
axes[1].legend()
fig.suptitle("Without the 1/sqrt(d_k), the softmax saturates as d_k grows")
fig.tight_layout()
plt.show()

# %% [markdown]
# What the run shows: without scaling, the spread of the scores grows like $\sqrt{d_k}$ (about 2, 4, 8, 16, 32),
# the largest weight climbs towards 1 (one key takes everything) and the softmax's gradient shrinks. With the
# scaling, all three stay flat: the softmax behaves the same at $d_k = 4$ and $d_k = 1024$.
#
# ## 3. Masks: who may attend to whom
#
# A **mask** is a boolean tensor with one entry per (query, key) pair. In this course, as in
# `F.scaled_dot_product_attention`, **`True` means "may attend"**. Two masks come up all the time.
#
# **Causal mask.** A language model predicts token $t+1$ from tokens $1..t$, and during training it sees the whole
# sentence at once; position $t$ must not peek at later positions. Query $i$ may attend to key $j$ only if
# $j \le i$: a lower-triangular matrix.
#
# **Padding mask.** Sentences in a batch have different lengths and are padded to the longest one. Padding tokens
# are not words: no query may attend to them. A padding mask is `True` for the real keys and depends only on the
# key position, so it has shape `(batch, 1, 1, k_len)` and broadcasts over heads and queries.
#
# Masks combine with `&` (a pair is allowed only if every mask allows it). Broadcasting builds the full
# `(batch, heads, q_len, k_len)` mask for free.

# %%
seq_len = 6
lengths = torch.tensor([6, 4])                                         # sentence 2 has 2 padding tokens

causal_mask = torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))   # (q_len, k_len)
key_is_real = torch.arange(seq_len)[None, :] < lengths[:, None]          # (batch, k_len)
padding_mask = key_is_real[:, None, None, :]                             # (batch, 1, 1, k_len)
combined_mask = causal_mask & padding_mask                               # (batch, 1, q_len, k_len)
print("causal", tuple(causal_mask.shape), "| padding", tuple(padding_mask.shape),
      "| combined", tuple(combined_mask.shape))
print(causal_mask.int())

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
panels = [(causal_mask, "causal: j <= i"),
          (padding_mask[1, 0].expand(seq_len, seq_len), "padding (sentence 2, length 4)"),
          (combined_mask[1, 0], "causal & padding (sentence 2)")]
for ax, (m, title) in zip(axes, panels):
    ax.imshow(m.int(), cmap="Greens", vmin=0, vmax=1.3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    ax.set_xticks(range(seq_len))
    ax.set_yticks(range(seq_len))
fig.suptitle("Masks, True (green) = may attend")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Two conventions, one library
#
# PyTorch uses **both** polarities, and mixing them up fails silently (the code runs and gives wrong numbers):
#
# | API | argument | `True` means |
# | --- | --- | --- |
# | this course, `F.scaled_dot_product_attention` | `mask` / `attn_mask` (bool) | **may attend** |
# | `nn.MultiheadAttention`, `nn.Transformer*` | `attn_mask` (bool) | **blocked** (may *not* attend) |
# | `nn.MultiheadAttention`, `nn.Transformer*` | `key_padding_mask` (bool) | this key is **padding** (blocked) |
#
# Converting is one `~`. A float mask is different again: it is *added* to the scores (0 = allowed, $-\infty$ =
# blocked) in both APIs. Always check the polarity on a tiny example, as below: with a causal mask, the first query
# must put all its weight on the first key.

# %%
q, k, v = torch.randn(1, seq_len, 4), torch.randn(1, seq_len, 4), torch.randn(1, seq_len, 4)
_, w_ours = attention(q, k, v, mask=causal_mask)
torch_mha_demo = nn.MultiheadAttention(4, 1, batch_first=True)
_, w_torch_right = torch_mha_demo(q, k, v, attn_mask=~causal_mask)  # blocked = NOT allowed
_, w_torch_wrong = torch_mha_demo(q, k, v, attn_mask=causal_mask)   # the course's mask passed unchanged
print("ours, first query           :", w_ours[0, 0])
print("nn.MHA with ~mask           :", w_torch_right[0, 0].detach())
print("nn.MHA with mask (WRONG)    :", w_torch_wrong[0, 0].detach(), "<- attends to the future")

# %% [markdown]
# ## 4. The trap: a row with every key masked gives NaN
#
# If *every* key of some query is masked, its scores are all $-\infty$ and the softmax computes
# $e^{-\infty} / \sum e^{-\infty} = 0/0$ = NaN. This is not an exotic case. With **left padding** (common when
# generating text with a batch of prompts: pad on the left so every prompt ends at the same position) and a causal
# mask, the first query of a padded sentence may look only at key 0, which is padding: all its keys are masked.
#
# And a NaN does not stay where it was born. Multiplying the padded positions' loss by 0 does not help, because
# `nan * 0 = nan`; the gradient is NaN too, and one optimiser step spreads NaN into every weight.

# %%
left_padded = torch.tensor([[False, False, True, True, True, True]])   # sentence of length 4, padded on the left
left_mask = causal_mask & left_padded[:, None, :]                       # (batch, q_len, k_len)
x_demo = torch.randn(1, seq_len, 4, requires_grad=True)
out_nan, w_nan = attention(x_demo, x_demo, x_demo, mask=left_mask)
loss = (out_nan * left_padded[..., None]).sum()   # padded positions multiplied by 0 ...
loss.backward()
print("weights of query 0:", w_nan[0, 0].detach())
print("loss:", loss.item(), "| any NaN in the gradient:", x_demo.grad.isnan().any().item())

# %% [markdown]
# **A fix.** Two changes, both needed:
# 1. Fill masked scores with the most negative *finite* number, `torch.finfo(dtype).min`, instead of $-\infty$.
#    A row that is all masked then has equal finite scores and softmaxes to **uniform** weights: no NaN, but the
#    query now attends to every masked key, which is wrong.
# 2. So, after the softmax, set the weights of fully masked rows to zero: multiply by
#    `mask.any(dim=-1, keepdim=True)`. Such a query attends to nothing and its output is 0.
#
# (In a row with at least one allowed key, `finfo.min` gives exactly zero weight to the masked keys, as
# $-\infty$ did: $e^{\text{min} - \text{max}}$ underflows to 0.)

# %%
def attention_safe(q, k, v, mask=None):
    """As attention() above, but a query whose keys are all masked gets zero weights instead of NaN."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask.any(dim=-1, keepdim=True)
    return weights @ v, weights


x_demo.grad = None
out_safe, w_safe = attention_safe(x_demo, x_demo, x_demo, mask=left_mask)
loss = (out_safe * left_padded[..., None]).sum()
loss.backward()
print("weights of query 0:", w_safe[0, 0].detach())
print("any NaN in the gradient:", x_demo.grad.isnan().any().item())
print("other rows unchanged:", torch.allclose(w_safe[0, 2:], w_nan[0, 2:]))

# %% [markdown]
# What do PyTorch's implementations do with such a row? Measured with this notebook's PyTorch (the answer depends
# on the version, so this cell's output is not compared by the tests):

# %% tags=["nbval-ignore-output"]
sdpa_out = F.scaled_dot_product_attention(q, k, v, attn_mask=left_mask)
torch_out, _ = torch_mha_demo(q, k, v, attn_mask=~left_mask[0])
print("torch", torch.__version__.split("+")[0])
print("F.scaled_dot_product_attention, query 0:", sdpa_out[0, 0])
print("nn.MultiheadAttention,          query 0:", torch_out[0, 0].detach())

# %% [markdown]
# SDPA returns zeros for a fully masked row (it has done so since PyTorch 2.5); `nn.MultiheadAttention` returns NaN.
# Do not rely on either: make sure your own code handles the case, as the course's class below does.
#
# ## 5. Many heads
#
# One attention computes one set of weights per query: one way of deciding what is relevant. **Multi-head
# attention** runs $h$ attentions side by side, each with its own learned projections, so that different heads can
# look for different things (one the previous word, one the subject of the sentence, ...), and concatenates their
# outputs:
#
# $$\mathrm{MultiHead}(X_q, X_k, X_v) = \mathrm{Concat}(\mathrm{head}_1, \ldots, \mathrm{head}_h)\, W_O, \qquad
# \mathrm{head}_i = \mathrm{Attention}(X_q W_Q^{(i)}, X_k W_K^{(i)}, X_v W_V^{(i)}) .$$
#
# Each head works in $d_k = d_{model}/h$ dimensions, so $h$ heads cost about as much as one head of size
# $d_{model}$. In code, nobody builds $h$ small projections: one `nn.Linear(d_model, d_model)` computes all heads'
# queries at once, and the result is **split** into heads by a reshape. After attention the heads are **merged**
# back (the concatenation) and mixed by $W_O$.
#
# `(batch, seq, d_model)` --view--> `(batch, seq, heads, d_k)` --transpose--> `(batch, heads, seq, d_k)`
#
# The transpose puts `heads` next to `batch`, so that the attention of section 1 (which works on the last two
# dimensions) runs on every head of every sentence at once. Merging undoes both steps; after a transpose the
# memory is no longer in row order, so `.contiguous()` is needed before `.view` (or use `.reshape`).

# %%
batch, seq, d_model, num_heads = 2, 5, 12, 3
d_k = d_model // num_heads
x = torch.arange(batch * seq * d_model, dtype=torch.float32).view(batch, seq, d_model)

split = x.view(batch, seq, num_heads, d_k).transpose(1, 2)
merged = split.transpose(1, 2).contiguous().view(batch, seq, d_model)
print("split :", tuple(split.shape), "| merged:", tuple(merged.shape), "| round trip exact:", torch.equal(merged, x))
print("token 0 of sentence 0:", x[0, 0].int().tolist())
print("  head 0 gets features", split[0, 0, 0].int().tolist(), "| head 1 gets", split[0, 1, 0].int().tolist())

# %% [markdown]
# Each head sees a contiguous slice of each token's features: head 0 features 0-3, head 1 features 4-7, and so on.
#
# ## 6. The course's `MultiHeadAttention`
#
# Here is the class the exercises give you, with everything above in one place: four `nn.Linear` projections
# `W_q, W_k, W_v, W_o`, the split and merge, the scaling, the mask (True = may attend, broadcast to
# `(batch, heads, q_len, k_len)`), the NaN fix of section 4, and dropout on the attention weights (it randomly drops
# some query-key links during training; section 5 of the next lesson says where else dropout goes). With
# `keep_weights=True` it keeps the last weights in `attn_weights` so that you can plot them; that is off by default,
# because a kept tensor stays in memory (exercise 2 measures memory). The exercise notebooks contain this same code.

# %% include="lab/provided/attention.py"

# %% [markdown]
# ## 7. Checking it against PyTorch
#
# Our class should compute exactly what PyTorch's implementations compute, given the same weights. Dropout is
# random, so we set it to 0 for the comparison. We use a batch of two sentences (lengths 6 and 4), a causal mask
# and a padding mask together.
#
# **Against `F.scaled_dot_product_attention`:** project and split with our layers, let SDPA do the attention,
# merge and project with ours.

# %%
torch.manual_seed(0)
d_model, num_heads = 16, 4
mha = MultiHeadAttention(d_model, num_heads, dropout=0.0, keep_weights=True)
x = torch.randn(2, seq_len, d_model)
ours = mha(x, x, x, mask=combined_mask)

q, k, v = (mha.split_heads(W(x)) for W in (mha.W_q, mha.W_k, mha.W_v))
sdpa = mha.W_o(mha.merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=combined_mask)))
print("output shape", tuple(ours.shape), "| attn_weights shape", tuple(mha.attn_weights.shape))
print("equal to SDPA:", torch.allclose(ours, sdpa, atol=1e-6))

# %% [markdown]
# **Against `nn.MultiheadAttention`:** it stores $W_Q, W_K, W_V$ stacked in one matrix `in_proj_weight` of shape
# `(3 d_model, d_model)`, and $W_O$ as `out_proj`. Copy our weights in, and flip the masks to its convention.

# %%
torch_mha = nn.MultiheadAttention(d_model, num_heads, dropout=0.0, batch_first=True)
with torch.no_grad():
    torch_mha.in_proj_weight.copy_(torch.cat([mha.W_q.weight, mha.W_k.weight, mha.W_v.weight]))
    torch_mha.in_proj_bias.copy_(torch.cat([mha.W_q.bias, mha.W_k.bias, mha.W_v.bias]))
    torch_mha.out_proj.weight.copy_(mha.W_o.weight)
    torch_mha.out_proj.bias.copy_(mha.W_o.bias)

theirs, their_weights = torch_mha(x, x, x, attn_mask=~causal_mask, key_padding_mask=~key_is_real,
                                  average_attn_weights=False)
print("outputs equal:", torch.allclose(ours, theirs, atol=1e-6))
print("weights equal:", torch.allclose(mha.attn_weights, their_weights, atol=1e-6))
print("parameters: ours", sum(p.numel() for p in mha.parameters()),
      "| nn.MultiheadAttention", sum(p.numel() for p in torch_mha.parameters()),
      "| 4 * (d_model^2 + d_model) =", 4 * (d_model**2 + d_model))

# %% [markdown]
# ## 8. Looking at attention weights
#
# A heatmap of the weights shows, for each query (row), where it looks (columns). First, an **untrained** layer on
# the second sentence with the combined mask: the weights are random, but the structure of the mask is plain to
# see (nothing above the diagonal, nothing in the padded columns 4 and 5; rows 4 and 5 are the padding tokens'
# own queries, whose outputs nobody uses).

# %%
fig, axes = plt.subplots(1, num_heads, figsize=(13, 3.2))
for h, ax in enumerate(axes):
    ax.imshow(mha.attn_weights[1, h], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"untrained, head {h}", fontsize=10)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
fig.tight_layout()
plt.show()

# %% [markdown]
# Random weights say little. To see heads that *do* something, we train one attention layer, for about a second,
# on two toy tasks with sequences of 8 random digits (0-11):
#
# - **reverse** the sequence: output position $i$ must copy input position $7 - i$. No mask. The right answer
#   depends only on *positions*, so the model gets a learned position vector added to each token's embedding.
# - **running maximum** with a **causal** mask: output position $i$ is the largest digit among positions
#   $0..i$. The right key depends on the *content* (which digit is largest so far).
#
# The model: embedding + position vector, our `MultiHeadAttention` with 2 heads, and a linear read-out. No
# residual connection, so everything the output knows has come through attention.

# %% tags=["nbval-ignore-output"]
class ToyModel(nn.Module):
    def __init__(self, vocab=12, seq_len=8, d_model=32, num_heads=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.position = nn.Parameter(torch.randn(seq_len, d_model))
        self.attn = MultiHeadAttention(d_model, num_heads, dropout=0.0, keep_weights=True)
        self.readout = nn.Linear(d_model, vocab)

    def forward(self, tokens, mask=None):
        h = self.embed(tokens) + self.position
        return self.readout(self.attn(h, h, h, mask=mask))


def train_toy(target_fn, mask=None, steps=300, seed=0):
    torch.manual_seed(seed)
    model = ToyModel()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        tokens = torch.randint(0, 12, (64, 8))
        loss = F.cross_entropy(model(tokens, mask).flatten(0, 1), target_fn(tokens).flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    tokens = torch.randint(0, 12, (1000, 8))
    with torch.no_grad():
        accuracy = (model(tokens, mask).argmax(-1) == target_fn(tokens)).float().mean().item()
    return model, accuracy


causal8 = torch.tril(torch.ones(8, 8, dtype=torch.bool))
reverser, acc_reverse = train_toy(lambda t: t.flip(1))
running_max, acc_max = train_toy(lambda t: t.cummax(1).values, mask=causal8)
print(f"accuracy on 1000 new sequences: reverse {acc_reverse:.3f} | running max {acc_max:.3f}")

# %%
example = torch.tensor([[3, 9, 1, 4, 9, 2, 11, 5]])
with torch.no_grad():
    reverser(example)
    running_max(example, causal8)
labels = [f"{i}: {t}" for i, t in enumerate(example[0].tolist())]
fig, axes = plt.subplots(1, 4, figsize=(15, 3.9))
for col, (model, name) in enumerate([(reverser, "reverse"), (running_max, "running max, causal")]):
    for h in range(2):
        ax = axes[2 * col + h]
        ax.imshow(model.attn.attn_weights[0, h], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(f"{name}: head {h}", fontsize=10)
        ax.set_xticks(range(8), labels)
        ax.set_yticks(range(8), labels)
        ax.set_xlabel("key (position: digit)")
        ax.set_ylabel("query (position: digit)")
fig.suptitle(f"Trained attention on the sequence {example[0].tolist()}")
fig.tight_layout()
plt.show()
print("running max targets:", example.cummax(1).values[0].tolist())

# %% [markdown]
# Read the heatmaps row by row (yellow = weight near 1, dark = near 0). In the **reverse** task both heads learned
# the anti-diagonal: query $i$ looks at key $7-i$, whatever the digits are (a positional pattern). In the
# **running-max** task the weights sit on or below the diagonal only (the causal mask), and they follow the
# *content*: from query 1 on, head 1 looks at position 1 (the first 9) and then, from query 6 on, at position 6
# (the 11), the largest digit so far. Where two positions hold the same largest digit (the 9s at positions 1 and
# 4), a head may split its weight between them: both carry the right answer. Head 0 is less clean in places;
# $W_O$ combines the two heads, so one clear head is enough. (These patterns come from this training run; a
# different seed may assign the roles to the heads differently.)
#
# ## Summary
#
# - Attention: $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$, a weighted average of values, weighted by how well each
#   key matches the query.
# - The $1/\sqrt{d_k}$ keeps the scores at unit scale; without it the softmax saturates as $d_k$ grows (measured in
#   section 2) and its gradient vanishes.
# - Masks: this course and SDPA use `True` = may attend; `nn.MultiheadAttention` uses `True` = blocked
#   (`attn_mask`) and `True` = padding (`key_padding_mask`). Causal & padding combine with `&` and broadcast.
# - A fully masked row gives NaN with $-\infty$; fill with `finfo.min` and zero such rows after the softmax.
# - Heads: split `(batch, seq, d_model)` into `(batch, heads, seq, d_k)`, attend, merge, mix with $W_O$.
# - The course's `MultiHeadAttention` equals `F.scaled_dot_product_attention` and `nn.MultiheadAttention` with the
#   same weights (section 7). The next lesson builds Transformer blocks from it.
#
# ## References
#
# - A. Vaswani et al., *Attention Is All You Need*, NeurIPS 2017 (scaled dot-product and multi-head attention;
#   the $\sqrt{d_k}$ argument is its footnote 4).
# - D. Bahdanau, K. Cho, Y. Bengio, *Neural Machine Translation by Jointly Learning to Align and Translate*,
#   ICLR 2015 (attention in sequence models).
# - PyTorch documentation: `torch.nn.functional.scaled_dot_product_attention` and `torch.nn.MultiheadAttention`
#   (the mask conventions in the table of section 3).
# - T. Dao et al., *FlashAttention*, NeurIPS 2022 (how fused attention avoids storing the weight matrix).
