# Correct, but writes warnings to stderr from forward (so inside the test cells too): keeps full marks.
# base: correct
# expect: score == 8
import sys
import warnings

_Quiet = RMSNorm


class RMSNorm(_Quiet):
    def forward(self, x):
        warnings.warn("this is a UserWarning from forward", UserWarning)
        sys.stderr.write("DeprecationWarning: something noisy\n")
        return super().forward(x)
