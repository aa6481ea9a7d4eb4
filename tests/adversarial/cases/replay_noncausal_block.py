# Class 4 (issue 20) on exercise 1, the attack of the table (6.67 -> 9.67 of 14 before): a NON-causal block
# (self_mask ignored) that remembers what it returned and replays it: for a new input that shares its first t
# target positions with an earlier input, the outputs at those positions are the earlier ones, so a change at later
# positions seems to change nothing before them. The masking checks are now judged on values too (the outputs must
# be the masked reference's), which a non-causal block's are not: no more than the honest non-causal block.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_self_mask_ignored
# baseline: decoder_self_mask_ignored_baseline
# expect: score <= baseline
import torch

_Honest = TransformerDecoderBlock  # noqa: F821


class TransformerDecoderBlock(_Honest):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seen = []

    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        y = super().forward(x, encoder_output, self_mask, cross_mask)
        if self.training:
            return y
        y = y.clone()
        for x_old, enc_old, y_old in self._seen:
            if x_old.shape != x.shape or not torch.equal(enc_old, encoder_output):
                continue
            same = (x_old == x).all(-1).all(0)  # per target position
            t = int(same.long().cumprod(0).sum())
            y[:, :t] = y_old[:, :t]
        self._seen.append((x.detach().clone(), encoder_output.detach().clone(), y.detach().clone()))
        return y
