# checkpoints a closure over the mask, passes options by keyword, separate dropout modules
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


class EncoderLayer(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        h = self.norm1(x)
        x = x + self.drop1(self.attn(h, h, h, mask=mask))
        return x + self.drop2(self.ffn(self.norm2(x)))


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask=None, use_checkpointing=True):
        if not (use_checkpointing and self.training and torch.is_grad_enabled()):
            for layer in self.layers:
                x = layer(x, mask=mask)
            return self.final_norm(x)
        for layer in self.layers:
            x = checkpoint(lambda h, layer=layer: layer(h, mask=mask), x, use_reentrant=False, preserve_rng_state=True)
        return self.final_norm(x)
