# The lab's own solution of exercise 1b, in the lab's plain style. Reconstructed from the lab's stated API
# (TransformerDecoderBlock(d_model, num_heads, d_ff=None, dropout=0.1) with self_attn, cross_attn, ffn, norm1..3,
# dropout; forward(x, encoder_output, self_mask=None, cross_mask=None)) and its pre-norm formula: not the seed's
# verbatim file, which this repository does not have. Nothing in it departs from the notebook's stated API.
# MultiHeadAttention is the provided class (the notebook's read-only cell above the exercise).
import torch
import torch.nn as nn


class TransformerDecoderBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        if d_ff is None:
            d_ff = 4 * d_model

        # Masked self-attention over the target, then cross-attention to the encoder output
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)

        # Position-wise feed-forward network
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
        )

        # One LayerNorm per sublayer (pre-norm)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)

        self.dropout = nn.Dropout(dropout)

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        # 1. Masked self-attention with residual connection
        normed = self.norm1(x)
        attn_output = self.self_attn(normed, normed, normed, self_mask)
        x = x + self.dropout(attn_output)

        # 2. Cross-attention to the encoder output with residual connection
        normed = self.norm2(x)
        cross_output = self.cross_attn(normed, encoder_output, encoder_output, cross_mask)
        x = x + self.dropout(cross_output)

        # 3. Feed-forward network with residual connection
        normed = self.norm3(x)
        ffn_output = self.ffn(normed)
        x = x + self.dropout(ffn_output)

        return x
