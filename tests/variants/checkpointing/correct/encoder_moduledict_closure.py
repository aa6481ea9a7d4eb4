# nn.ModuleDict layers, each run by a closure made per layer, checkpointed with the mask captured
import torch
from torch import nn
from torch.utils import checkpoint as cp


def make_layer(d_model, num_heads, d_ff, dropout):
    return nn.ModuleDict(dict(
        norm1=nn.LayerNorm(d_model),
        attn=MultiHeadAttention(d_model, num_heads, dropout),
        norm2=nn.LayerNorm(d_model),
        ffn=nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)),
        dropout=nn.Dropout(dropout),
    ))


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        if d_ff is None:
            d_ff = 4 * d_model
        self.layers = nn.ModuleList(make_layer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)

    @staticmethod
    def runner(layer, mask):
        def run(x):
            h = layer.norm1(x)
            x = x + layer.dropout(layer.attn(h, h, h, mask=mask))
            return x + layer.dropout(layer.ffn(layer.norm2(x)))
        return run

    def forward(self, x, mask=None, use_checkpointing=True):
        for layer in self.layers:
            run = self.runner(layer, mask)
            if use_checkpointing and self.training and torch.is_grad_enabled():
                x = cp.checkpoint(run, x, use_reentrant=False)
            else:
                x = run(x)
        return self.final_norm(x)
