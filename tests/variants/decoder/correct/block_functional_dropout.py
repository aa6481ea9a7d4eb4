# F.dropout with self.dropout.p and training=self.training; masks converted to bool before use
import torch
import torch.nn.functional as F
from torch import nn


class TransformerDecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        hidden = d_ff if d_ff is not None else 4 * d_model
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_model))
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        p = self.dropout.p
        if self_mask is not None:
            self_mask = self_mask.bool()
        if cross_mask is not None:
            cross_mask = cross_mask.bool()
        q = self.norm1(x)
        out = x + F.dropout(self.self_attn(q, q, q, mask=self_mask), p, training=self.training)
        q = self.norm2(out)
        out = out + F.dropout(self.cross_attn(q, encoder_output, encoder_output, mask=cross_mask), p, self.training)
        ff = self.ffn(self.norm3(out))
        return out + F.dropout(ff, p=p, training=self.training)
