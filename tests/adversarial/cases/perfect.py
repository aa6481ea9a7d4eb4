# Control: a correct solution, nothing else. Graded in the same run as every hostile case.
# base: correct
# expect: score == 8
