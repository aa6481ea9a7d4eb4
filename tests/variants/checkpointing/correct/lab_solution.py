# the lab's own solution, reconstructed: layers as nn.ModuleDicts run by a _forward_layer helper
#
# Reconstructed from the description of the seed lab's TransformerEncoderCheckpointed in issue 11 (the seed file
# itself is not available here), not copied from it. It follows these points of that description, which are
# also the notebook's stated API:
# - TransformerEncoderCheckpointed(num_layers, d_model, num_heads, d_ff=None, dropout=0.1);
# - self.layers: an nn.ModuleList of nn.ModuleDicts, each with attn (the provided MultiHeadAttention),
#   ffn (nn.Sequential(Linear, GELU, Dropout, Linear)), norm1, norm2 and dropout; self.final_norm;
# - a helper _forward_layer(self, layer, x, mask) runs one pre-norm layer;
# - forward(x, mask=None, use_checkpointing=True) calls
#   checkpoint(self._forward_layer, layer, x, mask, use_reentrant=False) when use_checkpointing and self.training
#   (no torch.is_grad_enabled() test: under no_grad non-reentrant checkpoint just calls the function), else
#   self._forward_layer(layer, x, mask).
# Nothing in it breaks the stated API, so it is a correct variant.
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


class TransformerEncoderCheckpointed(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.layers = nn.ModuleList([
            nn.ModuleDict({
                "attn": MultiHeadAttention(d_model, num_heads, dropout),
                "ffn": nn.Sequential(
                    nn.Linear(d_model, d_ff),
                    nn.GELU(),
                    nn.Dropout(dropout),
                    nn.Linear(d_ff, d_model),
                ),
                "norm1": nn.LayerNorm(d_model),
                "norm2": nn.LayerNorm(d_model),
                "dropout": nn.Dropout(dropout),
            })
            for _ in range(num_layers)
        ])
        self.final_norm = nn.LayerNorm(d_model)

    def _forward_layer(self, layer, x, mask):
        # pre-norm: x + Dropout(Sublayer(LayerNorm(x)))
        normed = layer["norm1"](x)
        x = x + layer["dropout"](layer["attn"](normed, normed, normed, mask))
        x = x + layer["dropout"](layer["ffn"](layer["norm2"](x)))
        return x

    def forward(self, x, mask=None, use_checkpointing=True):
        for layer in self.layers:
            if use_checkpointing and self.training:
                x = checkpoint(self._forward_layer, layer, x, mask, use_reentrant=False)
            else:
                x = self._forward_layer(layer, x, mask)
        return self.final_norm(x)
