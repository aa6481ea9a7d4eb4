# Forged probe data for exercise 1: the hidden-test cells of the block are rewritten to probe a class that has the
# wrong block's modules (so the probes report the weights they gave it) but returns what nn.TransformerDecoderLayer
# computes for the same inputs with weights of its own. The judge computes with the reported weights: no output
# matches (values, masking, dropout, eval mode, the parameter step, shapes, unchanged inputs: 0), no registered
# parameter gets a gradient; only what the wrong block's own submodules compute (attributes, d_ff) passes: the
# honest block's 0.8. (Before the masking checks were judged on values: at most 5 of the honest 5.67.)
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# baseline: decoder_wrong_baseline
# expect: score <= baseline
# reason: values are wrong
import re
import sys

from torch import nn

_checks = sys.modules["lab.checks.decoder"].GROUPS


class _Forged(TransformerDecoderBlock):  # noqa: F821 (the base's class, defined above in the same cell)
    def __init__(self, d_model, num_heads, d_ff=None, dropout=0.1):
        super().__init__(d_model, num_heads, d_ff, dropout)
        layer = nn.TransformerDecoderLayer(d_model, num_heads, d_ff or 4 * d_model, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        object.__setattr__(self, "_layer", layer)  # not registered: the probes neither see nor set its weights
        self._heads = num_heads

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        kwargs = {}
        if self_mask is not None:
            blocked = ~self_mask.bool()
            if blocked.dim() == 4:  # (batch, 1, T, T) -> (batch * heads, T, T)
                blocked = blocked.expand(-1, self._heads, -1, -1).flatten(0, 1)
            kwargs["tgt_mask"] = blocked
        if cross_mask is not None:
            kwargs["memory_key_padding_mask"] = ~cross_mask.bool()[:, 0, 0, :]
        return self._layer(x, encoder_output, **kwargs)


def _rewrite(lines):
    found = re.search(r"GROUPS\.run\(\"(api|values|masking|training)\"", "".join(lines))
    return [f"_checks.run({found[1]!r}, _Forged)\n"] if found else lines


get_ipython().input_transformers_cleanup.append(_rewrite)  # noqa: F821
