import torch
from torch import nn


class PlainEncoderLayer(nn.Module):
    """One pre-norm encoder layer, with the parts and names of exercise 2a's API (lesson 2, section 2)."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        h = self.norm1(x)
        x = x + self.dropout(self.attn(h, h, h, mask))
        return x + self.dropout(self.ffn(self.norm2(x)))


class PlainEncoder(nn.Module):
    """A pre-norm encoder WITHOUT checkpointing, for exercises 2b and 2c: their tests use it, so that they do not
    depend on your answer to 2a. `layers[i](x, mask)` runs layer i; `final_norm` is the final LayerNorm.

    forward(x, mask=None, use_checkpointing=False): there is no checkpointing here, so use_checkpointing=True
    is refused rather than ignored.
    """

    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(PlainEncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask=None, use_checkpointing=False):
        if use_checkpointing:
            raise ValueError("PlainEncoder does not checkpoint: call it with use_checkpointing=False")
        for layer in self.layers:
            x = layer(x, mask)
        return self.final_norm(x)
