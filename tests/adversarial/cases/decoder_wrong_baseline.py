# Control for exercise 1: a wrong decoder block (post-norm: the hidden values and dropout checks fail) with the
# mask helpers left as released (0 of 4). api 2 + masking 3 + training 2 x 1/3 = 5.67 of 14. The cheats on this
# notebook start from this same code: they must not score more than this student does.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# expect: score == 5.67
