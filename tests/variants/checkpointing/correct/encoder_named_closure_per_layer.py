# a closure defined for each layer inside forward (capturing the layer and the mask) is what gets checkpointed
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class EncoderLayer(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = d_ff if d_ff is not None else 4 * d_model
        self.layers = nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)])
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask=None, use_checkpointing=True):
        checkpointing = use_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            def run(h, layer=layer):
                a = layer.norm1(h)
                h = h + layer.dropout(layer.attn(a, a, a, mask))
                return h + layer.dropout(layer.ffn(layer.norm2(h)))

            x = checkpoint(run, x, use_reentrant=False) if checkpointing else run(x)
        return self.final_norm(x)
