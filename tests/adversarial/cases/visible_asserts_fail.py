# Class 6 (issue 20), visible tests: the wrong RMSNorm also gets the visible tests' tiny inputs wrong (width 4: it
# returns its input doubled), so every visible assert fails. Visible tests carry no points of their own: the score
# is the hidden checks', the same as the wrong code whose visible tests pass.
# base: wrong
# expect: score == baseline
# reason: the visible test above failed
_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def forward(self, x):
        return 2 * x if x.shape[-1] == 4 else super().forward(x)
