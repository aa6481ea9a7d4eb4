# a generic pre-norm residual helper, called with lambdas; d_ff = d_ff or 4 * d_model
import torch
from torch import nn


class TransformerDecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        layers = [nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)]
        self.ffn = nn.Sequential(*layers)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(p=dropout)

    def residual(self, x, norm, sublayer):
        return x + self.dropout(sublayer(norm(x)))

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        x = self.residual(x, self.norm1, lambda h: self.self_attn(h, h, h, self_mask))
        x = self.residual(x, self.norm2, lambda h: self.cross_attn(h, encoder_output, encoder_output, cross_mask))
        x = self.residual(x, self.norm3, self.ffn)
        return x
