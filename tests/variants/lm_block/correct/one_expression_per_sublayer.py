# each sublayer in one expression, keyword arguments, the mask forwarded by name
from torch import nn


class DecoderOnlyBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, dropout=0.0):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(d_model), RMSNorm(d_model)
        self.self_attn = SelfAttention(d_model, num_heads, dropout=dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(p=dropout), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x, mask=None):
        y = x + self.dropout(self.self_attn(self.norm1(x), mask=mask))
        return y + self.dropout(self.ffn(self.norm2(y)))
