# Fairness (found while attacking issue 20's wire): a correct RMSNorm whose forward prints progress dots without a
# line break (print(".", end="")), so every probe line followed dots on the same line and was not read (0 of 8 for a
# right answer). The judge now reads a probe line wherever its prefix starts (autograder/nbgrader_ext/judge.py
# on_own_lines) and removes it from the notebook all the same.
# base: correct
# expect: score == 8
_Quiet = RMSNorm  # noqa: F821


class RMSNorm(_Quiet):
    def forward(self, x):
        print(".", end="")
        return super().forward(x)
