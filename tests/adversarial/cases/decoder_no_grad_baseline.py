# Control for decoder_forged_gradients: a post-norm block whose forward runs under torch.no_grad() (so no gradient
# reaches anything), as an honest student would submit it. Graded in the same run as the attack.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# expect: score == 0.8
import torch

_Honest = TransformerDecoderBlock  # noqa: F821


class TransformerDecoderBlock(_Honest):
    @torch.no_grad()
    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        return super().forward(x, encoder_output, self_mask, cross_mask)
