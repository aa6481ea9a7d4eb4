import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention, as built in the attention lesson.

    forward(query, key, value, mask=None): query (batch, q_len, d_model), key and value (batch, k_len, d_model).
    mask: anything that broadcasts to (batch, num_heads, q_len, k_len); nonzero / True means "may attend"
    (the convention of F.scaled_dot_product_attention; nn.MultiheadAttention uses the opposite one).
    A query row whose keys are all masked gets all-zero attention weights (not NaN).
    keep_weights=True keeps the last attention weights in `self.attn_weights` (batch, num_heads, q_len, k_len),
    for plotting; it is off by default because a kept tensor stays alive whatever the training step does with the
    rest (gradient checkpointing cannot free it). Switch it on for one module with `mha.keep_weights = True`.
    """

    def __init__(self, d_model, num_heads, dropout=0.1, keep_weights=False):
        super().__init__()
        assert d_model % num_heads == 0, "d_model must be divisible by num_heads"
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.keep_weights = keep_weights
        self.attn_weights = None

    def split_heads(self, x):
        # (batch, seq, d_model) -> (batch, heads, seq, d_k)
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.d_k).transpose(1, 2)

    def merge_heads(self, x):
        # (batch, heads, seq, d_k) -> (batch, seq, d_model)
        batch, _, seq, _ = x.shape
        return x.transpose(1, 2).contiguous().view(batch, seq, self.d_model)

    def forward(self, query, key, value, mask=None):
        q = self.split_heads(self.W_q(query))
        k = self.split_heads(self.W_k(key))
        v = self.split_heads(self.W_v(value))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            allowed = mask.bool()
            # The most negative finite number, not -inf: a fully masked row would give 0/0 = NaN with -inf.
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * allowed.any(dim=-1, keepdim=True)  # fully masked rows attend to nothing
        self.attn_weights = weights.detach() if self.keep_weights else None
        out = self.dropout(weights) @ v
        return self.W_o(self.merge_heads(out))
