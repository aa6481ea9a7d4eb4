# Megabytes of output (stdout and stderr): nbgrader's LimitOutput keeps the graded notebook small.
# base: correct
# expect: score == 8
# expect: notebook_kb < 400
import sys
for i in range(200_000):
    print("flood " * 4, i)
sys.stderr.write("E" * 3_000_000)
