# Cheat: forward publishes an execute_result with sys.displayhook. nbgrader scores a graded cell by its FIRST
# execute_result and reads any text that is not a number as full marks, so this would give every cell that calls
# forward full points, failing checks or not. The grader keeps such outputs only as display data.
# base: wrong
# expect: score <= baseline
import sys

_Honest = RMSNorm


class RMSNorm(_Honest):
    def forward(self, x):
        sys.displayhook("full marks, please")
        return super().forward(x)
