# Class 2/3 (issue 20) on exercise 1: the block of decoder_no_grad_baseline (post-norm, forward under no_grad: no
# gradient anywhere), plus a replaced probe for "every parameter and input gets a gradient": it runs the real probe
# (so the reported weights are the ones the seed prescribes) and then claims requires_grad and a gradient of ones for
# every parameter, x and encoder_output. The judge compared gradients with the reference only when the output was
# the reference's; for a wrong output it checked only that the gradients were non-zero, which made-up ones are: the
# check passed (1.6 -> 2.27). Fixed: the check now requires the output to be the reference's
# (lab/judges/decoder.py).
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# baseline: decoder_no_grad_baseline
# expect: score <= baseline
import sys

import torch

_Honest = TransformerDecoderBlock  # noqa: F821


class TransformerDecoderBlock(_Honest):
    @torch.no_grad()
    def forward(self, x, encoder_output, self_mask=None, cross_mask=None):
        return super().forward(x, encoder_output, self_mask, cross_mask)


_check = sys.modules["lab.checks.decoder"].GROUPS.checks["every_parameter_and_input_gets_a_gradient"]
_real = _check.probe


def _claims_gradients(cls, seed):
    data = _real(cls, seed=seed)
    if "error" not in data:
        data["requires_grad"] = True
        data["grads"] = {name: torch.ones(1) for name in data["grads"]}
        data["x_grad"], data["enc_grad"] = torch.ones(1), torch.ones(1)
    return data


_claims_gradients.__doc__ = _real.__doc__
_check.probe = _claims_gradients
