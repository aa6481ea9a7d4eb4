# Class 2 (issue 20), huge sizes: the kernel's per-cell output cap (boot.cap_output) lets any write that starts
# with "[probe " through uncounted, so that probe lines always reach the judge. The solution cell writes 24 MB in
# writes that merely start with "[probe " (then a newline and anything), and 24 MB more through the stream class's
# own write method (which the cap, set on the instance, does not see): the grader caps each cell's output as it
# arrives (SandboxedExecute.output). Neither is a probe line of a graded cell; the
# graded notebook must stay small and the tests run as usual.
# base: correct
# expect: score == 8
# expect: notebook_kb < 400
import sys

_chunk = "x" * (1 << 20)
for _ in range(24):
    sys.stdout.write("[probe \n" + _chunk + "\n")
for _ in range(24):
    type(sys.stdout).write(sys.stdout, _chunk + "\n")
sys.stdout.flush()
