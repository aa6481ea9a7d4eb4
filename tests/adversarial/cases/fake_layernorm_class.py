# Class 4 (issue 20) on exercise 1, structure imitated: the post-norm block's norms are a class NAMED LayerNorm (not
# nn.LayerNorm: it computes an RMS norm), its parameters() lies (it lists exactly the 16992 numbers the visible test
# counts, by leaving out the norms' and adding none), and its type name is printed as "TransformerDecoderBlock". The
# judges trust no name or count: the probes find no nn.LayerNorm, every block check fails.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# baseline: decoder_wrong_baseline
# expect: score <= baseline
import torch
from torch import nn


class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight + self.bias


_Honest = TransformerDecoderBlock  # noqa: F821


class TransformerDecoderBlock(_Honest):
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = LayerNorm(d_model), LayerNorm(d_model), LayerNorm(d_model)

    def parameters(self, recurse=True):
        return iter([p for name, p in self.named_parameters() if not name.startswith("norm")]
                    + [torch.nn.Parameter(torch.zeros(6 * self.norm1.weight.numel()))])
