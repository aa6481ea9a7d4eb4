# Control for exercise 1: a wrong decoder block (post-norm) with the mask helpers left as released (0 of 4). Every
# check of the block now compares its outputs with the reference's (issue 20: the masking checks since the judged
# design, the gradient, shape and unchanged-input checks since made-up data passed them), so it keeps only what its
# own sub-modules compute as the API states: api 2 of 5 (attributes, d_ff), 2 x 2/5 = 0.8 of 14 (5.67 before the
# masking checks were judged on values, 2.27 before the other three were). The cheats on this notebook start from
# this same code: they must not score more than this student does.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# expect: score == 0.8
