# Control: a wrong solution (eps outside the square root: only the hidden "values" checks fail, 6 of 8). Every cheat
# below starts from this same code: it must not
# score more than this student does.
# base: wrong
# expect: score == baseline
# expect: score == 6
