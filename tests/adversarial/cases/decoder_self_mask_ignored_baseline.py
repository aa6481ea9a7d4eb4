# Control for replay_noncausal_block: a block that never passes self_mask to the self-attention (non-causal), as
# an honest student would submit it. Graded in the same run as the attack.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_self_mask_ignored
# expect: score <= 14
