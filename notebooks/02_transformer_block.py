# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2: the Transformer block
#
# **Learning goals.** After this lesson you can
# - draw a Transformer block: sublayers, residual connections, LayerNorm, and where each goes;
# - build a pre-norm **encoder** block from the course's `MultiHeadAttention` and check it against PyTorch's
#   `nn.TransformerEncoderLayer`;
# - say what the three sublayers of a **decoder** block attend to, and which masks they take;
# - explain pre-norm versus post-norm, and read an experiment on gradient norms in a deep stack (Xiong et al. 2020);
# - say where dropout goes, and count a block's parameters by hand.
#
# **Estimated time:** 60 minutes. The notebook runs top to bottom in well under a minute on a laptop CPU.
#
# **You need:** lesson 1 (attention, masks, `MultiHeadAttention`).

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
# The course's `MultiHeadAttention` from lesson 1 (the same code the exercises give you): `W_q, W_k, W_v, W_o`,
# `forward(query, key, value, mask=None)` with `True` = may attend, masks broadcast to
# `(batch, heads, q_len, k_len)`.

# %% include="lab/provided/attention.py"

# %% [markdown]
# ## 1. What a block is made of
#
# A Transformer is a stack of identical **blocks**. Each block has two kinds of **sublayers**:
#
# - **attention**, which mixes information *between* positions (lesson 1);
# - a **feed-forward network** (FFN), which transforms each position *on its own* (the same two-layer MLP applied to
#   every token): `Linear(d_model, d_ff) -> GELU -> Linear(d_ff, d_model)`, usually with `d_ff = 4 * d_model`.
#
# Each sublayer is wrapped in two things that make deep stacks trainable:
#
# - a **residual connection**: the sublayer's output is *added* to its input, $x + \mathrm{Sublayer}(x)$, so every
#   block only learns a correction and the gradient has a direct path back through the addition;
# - a **LayerNorm**, which rescales each token vector to mean 0 and variance 1 (then applies a learned scale and
#   shift), keeping activations at a steady size.
#
# Where the LayerNorm goes is the one real design choice:
#
# | | one sublayer | used by |
# | --- | --- | --- |
# | **post-norm** | $x \leftarrow \mathrm{LayerNorm}(x + \mathrm{Dropout}(\mathrm{Sublayer}(x)))$ | the original Transformer (Vaswani et al. 2017), BERT |
# | **pre-norm** | $x \leftarrow x + \mathrm{Dropout}(\mathrm{Sublayer}(\mathrm{LayerNorm}(x)))$ | GPT-2 and most models since |
#
# In pre-norm the residual path from the input to the output is a plain sum, never normalised; the stack therefore
# needs one **final LayerNorm** after the last block. This course uses pre-norm (section 4 shows why).
#
# ```
#  pre-norm, one sublayer                            post-norm, one sublayer
#
#  x ──┬──> LayerNorm ──> Sublayer ──> Dropout ──┐    x ──┬──> Sublayer ──> Dropout ──┐
#      │                                         v        │                           v
#      └───────────────────────────────────────> + ──>    └─────────────────────────> + ──> LayerNorm ──>
# ```
#
# An encoder block is two such sublayers in a row: self-attention, then the FFN.
#
# ## 2. The encoder block, in code
#
# An **encoder** block reads a whole sequence (a sentence to translate, say); every position may attend to every
# other real position, so its self-attention takes only a padding mask. Here it is, with a switch for post-norm
# that section 4 uses.
#
# **Names.** The parts are named as in the exercises: `attn`, `ffn`, `norm1`, `norm2`, `dropout` are exactly the
# names exercise 2 asks of each encoder layer. A decoder block (section 3, exercise 1) has two attentions, so there
# they are called `self_attn` and `cross_attn`, and it has a third norm, `norm3`; that is the one place where the
# names differ, on purpose. (PyTorch's own layers call their attention `self_attn` in the encoder too: section 2's
# comparison reads `theirs.self_attn`.)

# %%
class EncoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1, norm_first=True):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.norm_first = norm_first
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)  # on each sublayer's output, before the residual addition

    def forward(self, x, mask=None):
        if self.norm_first:  # pre-norm: x + Dropout(Sublayer(LayerNorm(x)))
            h = self.norm1(x)
            x = x + self.dropout(self.attn(h, h, h, mask=mask))
            x = x + self.dropout(self.ffn(self.norm2(x)))
        else:                # post-norm: LayerNorm(x + Dropout(Sublayer(x)))
            x = self.norm1(x + self.dropout(self.attn(x, x, x, mask=mask)))
            x = self.norm2(x + self.dropout(self.ffn(x)))
        return x


torch.manual_seed(0)
block = EncoderBlock(d_model=16, num_heads=4, dropout=0.0)
x = torch.randn(2, 6, 16)                                            # (batch, seq, d_model)
lengths = torch.tensor([6, 4])
key_is_real = torch.arange(6)[None, :] < lengths[:, None]            # (batch, k_len)
padding_mask = key_is_real[:, None, None, :]                         # (batch, 1, 1, k_len): True = may attend
y = block(x, mask=padding_mask)
print("input", tuple(x.shape), "-> output", tuple(y.shape))

# %% [markdown]
# A block maps `(batch, seq, d_model)` to the same shape, which is what lets blocks be stacked.
#
# **Is it right?** PyTorch's `nn.TransformerEncoderLayer` computes the same function when configured alike:
# GELU, `batch_first=True`, and `norm_first=True` for pre-norm (`False` for post-norm). We copy our weights into it
# (its attention stores $W_Q, W_K, W_V$ stacked in `in_proj_weight`, as in lesson 1) and compare, in both
# variants. Its padding mask uses the opposite polarity (`True` = padding).

# %%
def copy_into_torch_layer(ours, theirs):
    attn = ours.attn
    with torch.no_grad():
        theirs.self_attn.in_proj_weight.copy_(torch.cat([attn.W_q.weight, attn.W_k.weight, attn.W_v.weight]))
        theirs.self_attn.in_proj_bias.copy_(torch.cat([attn.W_q.bias, attn.W_k.bias, attn.W_v.bias]))
        theirs.self_attn.out_proj.weight.copy_(attn.W_o.weight)
        theirs.self_attn.out_proj.bias.copy_(attn.W_o.bias)
        for mine, its in [(ours.ffn[0], theirs.linear1), (ours.ffn[3], theirs.linear2),
                          (ours.norm1, theirs.norm1), (ours.norm2, theirs.norm2)]:
            its.weight.copy_(mine.weight)
            its.bias.copy_(mine.bias)


report = []
for norm_first in [True, False]:
    torch.manual_seed(0)
    ours = EncoderBlock(16, 4, dropout=0.0, norm_first=norm_first)
    theirs = nn.TransformerEncoderLayer(16, 4, dim_feedforward=64, dropout=0.0, activation="gelu",
                                        batch_first=True, norm_first=norm_first)
    copy_into_torch_layer(ours, theirs)
    same = torch.allclose(ours(x, mask=padding_mask), theirs(x, src_key_padding_mask=~key_is_real), atol=1e-5)
    report.append(f"norm_first={norm_first}: equal to nn.TransformerEncoderLayer: {same}")
print("\n".join(report))

# %% [markdown]
# ## 3. The decoder block
#
# A **decoder** block generates a sequence (the translation) while reading the encoder's output. It has three
# sublayers, each wrapped exactly like the encoder's (pre-norm: `x + Dropout(Sublayer(LayerNorm(x)))`):
#
# | sublayer | queries from | keys and values from | mask |
# | --- | --- | --- | --- |
# | 1. masked self-attention | the decoder's $x$ | the decoder's $x$ | **causal** (and target padding) |
# | 2. cross-attention | the decoder's $x$ | the **encoder output** | source **padding** only |
# | 3. FFN | the decoder's $x$, each position on its own | | |
#
# Why the self-attention is causal and the cross-attention is not is a question of exercise 1 (1c), for you to
# answer.
#
# Mask shapes: the causal mask is `(tgt_len, tgt_len)`; the cross-attention mask is `(batch, 1, 1, src_len)`
# (one row per sentence, broadcast over heads and queries), so the score matrix of the cross-attention is
# `(batch, heads, tgt_len, src_len)`: target and source may have different lengths. The cross-attention's keys
# and values are the encoder output *as it is*: it was normalised by the encoder stack's final LayerNorm.
#
# A decoder-only language model (GPT) drops sublayer 2: it is an encoder block with a causal mask.
#
# Building the decoder block is **exercise 1**; PyTorch's `nn.TransformerDecoderLayer(..., norm_first=True)` is the
# function it must compute. Here we only count its parameters (section 6).
#
# ## 4. Pre-norm or post-norm? An experiment
#
# Post-norm was the original design, yet it is known to need a **learning-rate warm-up** (start with a tiny learning
# rate and raise it over the first few thousand steps) or it trains badly, and the problem grows with depth.
# Xiong et al. (2020) traced this to the **gradients at initialisation**. Their analysis (Theorem 1) bounds the
# gradient of the last block's FFN weights: for post-norm the bound does not depend on the number of blocks $L$;
# for pre-norm it shrinks like $1/\sqrt{L}$. With post-norm, they argue, the layers near the output thus get large
# gradients at the start, which a large learning rate turns into large, destabilising updates; warm-up keeps the
# first steps small. With pre-norm the gradients are smaller and well-behaved, and they train it without warm-up.
#
# We can look at this directly, with no training: build stacks of freshly initialised blocks (pre-norm with its
# final LayerNorm, post-norm without one: its last block already ends with a LayerNorm), push a random batch
# through, take a loss, and measure the gradient of each block's second FFN weight matrix, `ffn[3].weight`.
# Details that matter:
# - dropout is 0, so the measurement is deterministic;
# - the loss is a fixed random weighting of the outputs, $\sum (y \odot g)$ over features, averaged over tokens. (A
#   plain `y.sum()` would not do: at initialisation (scale 1, shift 0) the features of a LayerNorm's output always
#   sum to 0, whatever its input, so that loss would have no gradient.)
# - every number is the mean over 3 random initialisations.

# %%
def gradient_norms(num_layers, norm_first, seed, d_model=64, num_heads=4):
    """Per block: the norm of the gradient of ffn[3].weight, and the size of that block's output (RMS)."""
    torch.manual_seed(seed)
    blocks = nn.ModuleList(EncoderBlock(d_model, num_heads, dropout=0.0, norm_first=norm_first)
                           for _ in range(num_layers))
    final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
    x = torch.randn(8, 32, d_model)
    g = torch.randn(8, 32, d_model)
    sizes = []
    for blk in blocks:
        x = blk(x)
        sizes.append(x.pow(2).mean().sqrt().item())
    loss = (final_norm(x) * g).sum(-1).mean()
    loss.backward()
    return [blk.ffn[3].weight.grad.norm().item() for blk in blocks], sizes


def mean_over_seeds(num_layers, norm_first, seeds=(0, 1, 2)):
    runs = [gradient_norms(num_layers, norm_first, s) for s in seeds]
    grads = torch.tensor([r[0] for r in runs]).mean(0)
    sizes = torch.tensor([r[1] for r in runs]).mean(0)
    return grads, sizes


depths = [6, 12, 24, 48]
results = {(L, nf): mean_over_seeds(L, nf) for L in depths for nf in (True, False)}

lines = ["blocks L | last block's gradient   | pre-norm relative | sqrt(6/L)",
         "         | pre-norm   post-norm    | to L = 6          |"]
pre_6 = results[(6, True)][0][-1].item()
for L in depths:
    pre, post = results[(L, True)][0][-1].item(), results[(L, False)][0][-1].item()
    lines.append(f"{L:>8} | {pre:8.3f}   {post:8.3f}     | {pre / pre_6:10.2f}        | {math.sqrt(6 / L):6.2f}")
print("\n".join(lines))

# %%
deep = 48
fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
for nf, name, marker in [(True, "pre-norm", "o-"), (False, "post-norm", "s-")]:
    grads, sizes = results[(deep, nf)]
    axes[0].plot(range(1, deep + 1), grads, marker, markersize=3, label=name)
    axes[1].plot(depths, [results[(L, nf)][0][-1].item() for L in depths], marker, label=name)
    axes[2].plot(range(1, deep + 1), sizes, marker, markersize=3, label=name)
axes[0].set_title(f"gradient norm per block, {deep}-block stack")
axes[0].set_xlabel("block (1 = next to the input)")
axes[1].set_title("gradient norm of the LAST block vs depth")
axes[1].set_xlabel("number of blocks L")
axes[1].set_xscale("log", base=2)
axes[1].set_xticks(depths, [str(L) for L in depths])
axes[2].set_title(f"size (RMS) of each block's output, {deep}-block stack")
axes[2].set_xlabel("block")
for ax in axes[:2]:
    ax.set_ylabel("||grad of ffn[3].weight||")
    ax.set_ylim(bottom=0)
axes[2].set_ylim(bottom=0)
for ax in axes:
    ax.legend()
fig.suptitle("At initialisation (no training), mean of 3 seeds; d_model=64, 4 heads, batch 8 x 32 tokens")
fig.tight_layout()
plt.show()

# %% [markdown]
# **What this run shows** (the numbers above, and the figure):
#
# - **Middle panel, the last block's gradient against depth.** Post-norm: about the same (2.5 to 2.8) for 6, 12,
#   24 and 48 blocks. Pre-norm: it shrinks as the stack deepens, to about half its 6-block value at 48 blocks, and
#   to less than half of post-norm's. That is the pattern of Xiong et al.'s Theorem 1 (independent of depth for
#   post-norm, smaller for deeper pre-norm stacks); in this run pre-norm's shrinking is slower than the
#   $1/\sqrt{L}$ of the bound (last two columns of the table).
# - **Right panel, a reason.** In pre-norm the residual stream is a running sum that no LayerNorm touches, so its
#   size grows with depth (here from about 1 after the first block to over 2 after the 48th). The final LayerNorm
#   divides by the size of the stream it receives, so the deeper the stack, the more every gradient flowing back
#   from the loss is scaled down. In post-norm every block's output is renormalised to size 1, whatever the depth.
# - **Left panel, inside one 48-block stack.** Pre-norm: the gradient falls steadily from the first block (next to
#   the input) to the last, by a factor of about 2. (A plausible reason, which we have not isolated: an early
#   block's output reaches the loss both directly along the residual stream and through every later block.)
#   Post-norm: roughly flat, between about 2.1 and 2.6, with its largest values at the last blocks, next to the
#   output.
#
# What this experiment does **not** show: training. Xiong et al. train both variants (translation and BERT) and
# find that pre-norm without warm-up trains as well as or faster than post-norm with it; we have not reproduced
# that here. Pre-norm has its own known drawback: in deep stacks later blocks add relatively little to the
# growing residual stream (the right panel), which is one reason later work (e.g. DeepNet, Wang et al. 2022)
# revisits post-norm with rescaled residuals.
#
# ## 5. Where dropout goes
#
# Dropout (Srivastava et al. 2014) zeroes each element with probability $p$ during training and scales the rest
# by $1/(1-p)$, so that the expected value is unchanged; in evaluation it does nothing. In a Transformer
# (Vaswani et al. 2017, section 5.4, $p = 0.1$, plus what PyTorch's layers and most code add) it goes:
#
# 1. on **each sublayer's output, before the residual addition**: `x + Dropout(Sublayer(...))` (never on the
#    residual path itself: that would drop the input);
# 2. on the **attention weights**, after the softmax (inside `MultiHeadAttention`);
# 3. **inside the FFN**, after the activation;
# 4. on the **embeddings plus positional encodings** at the input of the stack (outside the blocks).
#
# Our `EncoderBlock` has 1 to 3. `model.train()` and `model.eval()` switch it on and off: forgetting `eval()` at
# test time gives random, slightly worse outputs.

# %%
torch.manual_seed(0)
block = EncoderBlock(16, 4, dropout=0.1)
dropout_modules = [name for name, m in block.named_modules() if isinstance(m, nn.Dropout)]
block.train()
same_in_train = torch.equal(block(x), block(x))
block.eval()
same_in_eval = torch.equal(block(x), block(x))
print("dropout modules:", dropout_modules)
print("train mode, two calls give the same output:", same_in_train)
print("eval mode,  two calls give the same output:", same_in_eval)

# %% [markdown]
# ## 6. Counting parameters
#
# With $d$ = `d_model` and $d_{ff}$ = `d_ff`:
#
# | part | parameters |
# | --- | --- |
# | attention: 4 linear maps $d \to d$ with bias | $4(d^2 + d)$ (the number of heads does not matter) |
# | FFN: $d \to d_{ff} \to d$ with biases | $2\, d\, d_{ff} + d_{ff} + d$ |
# | LayerNorm: scale and shift | $2d$ each |
# | **encoder block** = attention + FFN + 2 LayerNorms | $4d^2 + 2 d d_{ff} + d_{ff} + 9d$ |
# | **decoder block** = 2 attentions + FFN + 3 LayerNorms | $8d^2 + 2 d d_{ff} + d_{ff} + 15d$ |
#
# For the base Transformer ($d = 512$, $d_{ff} = 2048$, 8 heads), checked against our block and against PyTorch's
# layers:

# %%
d, d_ff, heads = 512, 2048, 8


def n_params(module):
    return sum(p.numel() for p in module.parameters())


encoder_formula = 4 * d**2 + 2 * d * d_ff + d_ff + 9 * d
decoder_formula = 8 * d**2 + 2 * d * d_ff + d_ff + 15 * d
ours = EncoderBlock(d, heads, d_ff)
torch_encoder = nn.TransformerEncoderLayer(d, heads, d_ff, batch_first=True)
torch_decoder = nn.TransformerDecoderLayer(d, heads, d_ff, batch_first=True)
print(f"encoder block: formula {encoder_formula:,} | ours {n_params(ours):,} | "
      f"nn.TransformerEncoderLayer {n_params(torch_encoder):,}")
print(f"decoder block: formula {decoder_formula:,} | nn.TransformerDecoderLayer {n_params(torch_decoder):,}")
print(f"share of the encoder block in the FFN: {n_params(ours.ffn) / n_params(ours):.0%}, "
      f"in attention: {n_params(ours.attn) / n_params(ours):.0%}, in LayerNorms: "
      f"{(n_params(ours.norm1) + n_params(ours.norm2)) / n_params(ours):.2%}")

# %% [markdown]
# Two thirds of a block's parameters are in its FFN, not in attention. (The *compute* of attention, unlike its
# parameter count, grows with the square of the sequence length: the score matrix is `seq x seq` per head.)
#
# ## 7. The exercises
#
# The `transformer_block` assignment has four notebooks, each building on these lessons:
#
# 1. **`01_decoder_block`**: build the pre-norm decoder block of section 3 from the given `MultiHeadAttention`,
#    with the mask helpers (causal, and padding from sequence lengths); its hidden tests compare it with
#    `nn.TransformerDecoderLayer` and check causality and padding.
# 2. **`02_gradient_checkpointing`**: a deep stack of pre-norm encoder blocks (section 2) with a final LayerNorm
#    stores every block's activations for the backward pass; trade one extra forward pass for much less memory,
#    and measure the trade-off.
# 3. **`03_rmsnorm`**: replace LayerNorm by RMSNorm (the norm of LLaMA and most recent models), and measure honestly
#    whether it is faster.
# 4. **`04_tiny_language_model`**: a small decoder-only language model (the decoder block without its
#    cross-attention, with RMSNorm) trained on a CPU; write its generation loop with a KV cache, and measure what
#    the causal mask buys.
#
# ## Summary
#
# - A block = sublayers (attention, FFN), each with a residual connection and a LayerNorm; blocks keep the shape
#   `(batch, seq, d_model)` and stack.
# - Pre-norm: `x + Dropout(Sublayer(LayerNorm(x)))`, with a final LayerNorm after the stack. Post-norm:
#   `LayerNorm(x + Dropout(Sublayer(x)))`. Our encoder block equals `nn.TransformerEncoderLayer` in both.
# - Decoder block: causal self-attention, cross-attention to the encoder output (source padding mask only), FFN.
# - At initialisation, measured here: the last block's gradient stays constant with depth in post-norm and shrinks
#   with depth in pre-norm, as Xiong et al.'s analysis predicts; post-norm's gradients are largest near the output.
# - Dropout: on sublayer outputs before the residual addition, on attention weights, inside the FFN, on the input
#   embeddings. Off in `eval()`.
# - Parameters: $4d^2 + 2dd_{ff} + \ldots$ per encoder block, two thirds of them in the FFN.
#
# ## References
#
# - A. Vaswani et al., *Attention Is All You Need*, NeurIPS 2017 (the post-norm Transformer; dropout in
#   section 5.4).
# - R. Xiong et al., *On Layer Normalization in the Transformer Architecture*, ICML 2020 (pre- vs post-norm,
#   gradients at initialisation, training without warm-up).
# - L. Liu et al., *Understanding the Difficulty of Training Transformers*, EMNLP 2020 (why post-norm is hard to
#   train deep).
# - H. Wang et al., *DeepNet: Scaling Transformers to 1,000 Layers*, 2022 (post-norm with rescaled residuals).
# - J. L. Ba, J. R. Kiros, G. E. Hinton, *Layer Normalization*, 2016.
# - N. Srivastava et al., *Dropout: A Simple Way to Prevent Neural Networks from Overfitting*, JMLR 2014.
# - A. Radford et al., *Language Models are Unsupervised Multitask Learners* (GPT-2), 2019 (pre-norm with a final
#   LayerNorm).
# - PyTorch documentation: `nn.TransformerEncoderLayer`, `nn.TransformerDecoderLayer` (`norm_first`).
