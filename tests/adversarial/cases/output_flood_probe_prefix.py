# Class 2 (issue 20), huge sizes: the kernel's per-cell output cap (boot.cap_output) lets any write that starts
# with "[probe " through uncounted, so that probe lines always reach the judge. The solution cell writes 24 MB in
# writes that merely start with "[probe " (then a newline and anything), and 24 MB more through the stream class's
# own write method (which the cap, set on the instance, does not see). Neither is a probe line of a graded cell; the
# graded notebook must stay small and the tests run as usual.
# base: correct
# expect: score == 8
# expect: notebook_kb < 400
# known: the output cap is the kernel's (boot.cap_output): writes starting with "[probe " and the stream class's own write pass it uncounted, so a cell's output reaching nbgrader is unbounded (50 MB graded notebook here; GBs of the grader's memory in a 120 s cell). Needs a cap on the grader's side, in SandboxedExecute as messages arrive
import sys

_chunk = "x" * (1 << 20)
for _ in range(24):
    sys.stdout.write("[probe \n" + _chunk + "\n")
for _ in range(24):
    type(sys.stdout).write(sys.stdout, _chunk + "\n")
sys.stdout.flush()
