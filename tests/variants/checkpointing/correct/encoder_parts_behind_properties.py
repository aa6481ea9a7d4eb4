# each layer keeps its parts in an nn.ModuleDict `parts` and exposes the API names as properties (layer.attn, ...)
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class EncoderLayer(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.parts = nn.ModuleDict(dict(
            attn=MultiHeadAttention(d_model, num_heads, dropout),
            ffn=nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)),
            norm1=nn.LayerNorm(d_model),
            norm2=nn.LayerNorm(d_model),
            dropout=nn.Dropout(dropout),
        ))

    attn = property(lambda self: self.parts["attn"])
    ffn = property(lambda self: self.parts["ffn"])
    norm1 = property(lambda self: self.parts["norm1"])
    norm2 = property(lambda self: self.parts["norm2"])

    def forward(self, x, mask=None):
        p = self.parts
        h = p["norm1"](x)
        x = x + p["dropout"](p["attn"](h, h, h, mask))
        return x + p["dropout"](p["ffn"](p["norm2"](x)))


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask=None, use_checkpointing=True):
        checkpointing = use_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            x = checkpoint(layer, x, mask, use_reentrant=False) if checkpointing else layer(x, mask)
        return self.final_norm(x)
