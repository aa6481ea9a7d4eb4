# Control for rmsnorm_parameters_lie: the scale is a plain tensor, not an nn.Parameter (never learned), as an honest
# student would submit it. Graded in the same run as the attack.
# base: rmsnorm/wrong/scale_not_parameter
# expect: score <= 8
