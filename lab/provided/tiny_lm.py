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


class TorchBlock(nn.Module):
    """A stand-in for your DecoderOnlyBlock (exercise 4a) while yours is not written: PyTorch's own
    nn.TransformerEncoderLayer, pre-norm, with LayerNorm instead of RMSNorm (a decoder-only block is an encoder
    layer run with a causal mask). Same constructor and forward(x, mask) as yours, so TinyLM can be trained with
    it; it has none of the parts (norm1, self_attn.project, ...) that `generate` (4b) uses."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, activation="gelu",
                                                batch_first=True, norm_first=True)

    def forward(self, x, mask=None):
        # PyTorch's masks say True = blocked, ours True = may attend
        return self.layer(x, src_mask=None if mask is None else ~mask.bool())


class TinyLM(nn.Module):
    """A decoder-only language model: token + learned position embeddings, a stack of blocks, final norm, head.

    TinyLM(vocab_size, max_len, block=..., norm=..., ...): `block` is the class of one block, called as
    block(d_model, num_heads, d_ff, dropout); `norm` the class of the final norm, called as norm(d_model).
    forward(tokens, causal=True): tokens (batch, T) of ints < vocab_size, T <= max_len;
    returns the logits (batch, T, vocab_size); position i's logits predict token i + 1.
    embed(tokens, start=0): the embeddings of tokens at positions start, start + 1, ... (batch, t, d_model).
    logits(x): the final norm and the output head, (batch, t, d_model) -> (batch, t, vocab_size).
    """

    def __init__(self, vocab_size, max_len, *, block, norm, d_model=64, num_heads=4, num_layers=2, d_ff=None,
                 dropout=0.0, tie_weights=False):
        super().__init__()
        self.max_len = max_len
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(block(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = norm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:  # one matrix for reading tokens in and writing them out (Press & Wolf, 2017)
            self.head.weight = self.tok_emb.weight

    def embed(self, tokens, start=0):
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.dropout(self.tok_emb(tokens) + self.pos_emb(positions))

    def logits(self, x):
        return self.head(self.final_norm(x))

    def forward(self, tokens, causal=True):
        T = tokens.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril() if causal else None
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, mask)
        return self.logits(x)
