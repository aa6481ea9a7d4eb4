import math

import torch
from torch import nn

# MultiHeadAttention is the provided class of the cell above.


class SelfAttention(MultiHeadAttention):
    """The provided MultiHeadAttention used as self-attention, in two steps so that a cache can sit between them.

    project(x): x (batch, t, d_model) -> q, k, v, each (batch, num_heads, t, d_k).
    attend(q, k, v, mask=None): q (batch, num_heads, t_q, d_k), k and v (batch, num_heads, t_k, d_k) -> the output
    (batch, t_q, d_model), after W_o. mask broadcasts to (batch, num_heads, t_q, t_k); True = may attend.
    forward(x, mask=None) = attend(*project(x), mask): the same function as MultiHeadAttention(x, x, x, mask).
    """

    def project(self, x):
        return self.split_heads(self.W_q(x)), self.split_heads(self.W_k(x)), self.split_heads(self.W_v(x))

    def attend(self, q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            allowed = mask.bool()
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights * allowed.any(dim=-1, keepdim=True)  # fully masked rows attend to nothing
        self.attn_weights = weights.detach() if self.keep_weights else None
        return self.W_o(self.merge_heads(self.dropout(weights) @ v))

    def forward(self, x, mask=None):
        return self.attend(*self.project(x), mask)


class DecoderOnlyBlock(nn.Module):
    """Pre-norm block of a decoder-only model: x + drop(attn(norm1(x))), then x + drop(ffn(norm2(x))).

    norm: the class of the two norms, called as norm(d_model, eps=1e-6): PyTorch's nn.RMSNorm by default, or any
    class with exercise 3a's API.
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, norm=nn.RMSNorm):
        super().__init__()
        self.norm1 = norm(d_model, eps=1e-6)
        self.attn = SelfAttention(d_model, num_heads, dropout)
        self.norm2 = norm(d_model, eps=1e-6)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        x = x + self.drop(self.attn(self.norm1(x), mask))
        return x + self.drop(self.ffn(self.norm2(x)))


class TinyLM(nn.Module):
    """A decoder-only language model: token + learned position embeddings, pre-norm blocks, final norm, head.

    forward(tokens, causal=True): tokens (batch, T) of ints < vocab_size, T <= max_len; returns the logits
    (batch, T, vocab_size); position i's logits predict token i + 1.
    embed(tokens, start=0): the embeddings of tokens at positions start, start + 1, ... (batch, t, d_model).
    logits(x): the final norm and the output head, (batch, t, d_model) -> (batch, t, vocab_size).
    norm: the class of every norm, called as norm(d_model, eps=1e-6): nn.RMSNorm by default, or your RMSNorm of 3a.
    """

    def __init__(self, vocab_size, max_len, d_model=64, num_heads=4, num_layers=2, d_ff=None, dropout=0.0,
                 tie_weights=False, norm=nn.RMSNorm):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.blocks = nn.ModuleList(DecoderOnlyBlock(d_model, num_heads, d_ff, dropout, norm)
                                    for _ in range(num_layers))
        self.norm = norm(d_model, eps=1e-6)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:  # one matrix for reading tokens in and writing them out (Press & Wolf, 2017)
            self.head.weight = self.tok_emb.weight

    def embed(self, tokens, start=0):
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.drop(self.tok_emb(tokens) + self.pos_emb(positions))

    def logits(self, x):
        return self.head(self.norm(x))

    def forward(self, tokens, causal=True):
        T = tokens.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril() if causal else None
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.logits(x)
