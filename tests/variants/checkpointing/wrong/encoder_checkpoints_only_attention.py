# checkpoints only the attention sublayer of each layer (its attn runs twice, the feed-forward's activations are kept)
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

    def attention_block(self, x, mask):
        h = self.norm1(x)
        return x + self.dropout(self.attn(h, h, h, mask))

    def forward(self, x, mask=None, checkpointing=False):
        if checkpointing:
            x = checkpoint(self.attention_block, x, mask, use_reentrant=False)
        else:
            x = self.attention_block(x, mask)
        return x + self.dropout(self.ffn(self.norm2(x)))


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask=None, use_checkpointing=True):
        checkpointing = use_checkpointing and self.training and torch.is_grad_enabled()
        for layer in self.layers:
            x = layer(x, mask, checkpointing=checkpointing)
        return self.final_norm(x)
