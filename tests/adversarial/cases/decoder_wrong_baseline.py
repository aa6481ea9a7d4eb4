# Control for exercise 1: a wrong decoder block (post-norm) with the mask helpers left as released (0 of 4). Since
# the masking checks are judged on values (issue 20) it passes api 4 of 5 (its parameter step is not the pre-norm
# one) and training 1 of 3 (every parameter gets a gradient): 2 x 4/5 + 2 x 1/3 = 2.27 of 14 (it was 5.67 while the
# masking checks compared outputs only with each other). The cheats on this notebook start from this same code: they
# must not score more than this student does.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# expect: score == 2.27
