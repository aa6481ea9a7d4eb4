# a helper method of the encoder runs layer i (checkpoint(self._run_layer, i, x, mask, ...)), layers as ModuleDicts
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            self.layers.append(nn.ModuleDict({
                "norm1": nn.LayerNorm(d_model),
                "attn": MultiHeadAttention(d_model, num_heads, dropout),
                "norm2": nn.LayerNorm(d_model),
                "ffn": nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout),
                                     nn.Linear(d_ff, d_model)),
            }))
        self.drop = nn.Dropout(dropout)
        self.final_norm = nn.LayerNorm(d_model)

    def _run_layer(self, i, x, mask):
        layer = self.layers[i]
        h = layer.norm1(x)
        x = x + self.drop(layer.attn(h, h, h, mask))
        return x + self.drop(layer.ffn(layer.norm2(x)))

    def forward(self, x, mask=None, use_checkpointing=True):
        for i in range(len(self.layers)):
            if use_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(self._run_layer, i, x, mask, use_reentrant=False)
            else:
                x = self._run_layer(i, x, mask)
        return self.final_norm(x)
