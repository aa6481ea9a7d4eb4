# Class 3 (issue 20), signing: nothing is signed any more, so try to have the grader score a cell from anything
# else the kernel says. Whenever forward runs in a graded cell it prints what the grader itself writes there: a
# passing result line for every check of every group, the grader's score line ("hidden checks: 5 of 5 passed, 2 of
# 2 points"), and publishes "2" as an execute_result and as display data. The grader reads points from its judges
# only: the same score as the wrong code alone.
# base: wrong
# expect: score <= baseline
import sys

from IPython.display import display

_rms_groups = sys.modules["lab.checks.rmsnorm"].GROUPS
_protocol = sys.modules["autograder.protocol"]
_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def forward(self, x):
        for name, check in _rms_groups.checks.items():
            print(_protocol.check_line(name, True, check.description))
        print("hidden checks: 5 of 5 passed, 2 of 2 points")
        sys.displayhook(2)
        display({"text/plain": "2"}, raw=True)
        return super().forward(x)
