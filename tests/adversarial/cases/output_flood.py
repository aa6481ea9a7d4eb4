# Megabytes of output (stdout in many writes, stderr in one): the kernel passes at most about 1 MB per cell on,
# nbgrader's LimitOutput trims the rest; the graded notebook stays small and the tests run as usual.
# base: correct
# expect: score == 8
# expect: notebook_kb < 400
# reason: output was cut by the grader
import sys
for i in range(20_000):
    print("flood " * 40, i)
sys.stderr.write("E" * 3_000_000)
