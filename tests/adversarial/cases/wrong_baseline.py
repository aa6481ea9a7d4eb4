# Control: a wrong solution (eps outside the square root: only hidden "values" checks fail, 2 of its 5 pass, so
# 6 points + partial credit 2 x 2/5 = 6.8 of 8). Every cheat below starts from this same code: it must not
# score more than this student does.
# base: wrong
# expect: score == baseline
# expect: score == 6.8
