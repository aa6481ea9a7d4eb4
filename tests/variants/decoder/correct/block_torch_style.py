# like nn.TransformerDecoderLayer: one dropout per sublayer and a helper method per block
import torch
import torch.nn.functional as F
from torch import nn


class TransformerDecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        if d_ff is None:
            d_ff = 4 * d_model
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
        )
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(dropout)
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def _sa_block(self, x, mask):
        return self.dropout1(self.self_attn(x, x, x, mask=mask))

    def _ca_block(self, x, memory, mask):
        return self.dropout2(self.cross_attn(x, memory, memory, mask=mask))

    def _ff_block(self, x):
        return self.dropout3(self.ffn(x))

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        x = x + self._sa_block(self.norm1(x), self_mask)
        x = x + self._ca_block(self.norm2(x), encoder_output, cross_mask)
        x = x + self._ff_block(self.norm3(x))
        return x
