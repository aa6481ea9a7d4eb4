# Class 6 (issue 20), skipping the visible tests: the same code as visible_asserts_fail (every visible assert would
# fail), plus an input transformer that turns every later `assert X` into `assert True or X` (the hidden-test lines
# are left alone). Skipping gains nothing: the score is the hidden checks', the same as without skipping.
# base: wrong
# expect: score == baseline
import re

_Wrong = RMSNorm  # noqa: F821


class RMSNorm(_Wrong):
    def forward(self, x):
        return 2 * x if x.shape[-1] == 4 else super().forward(x)


def _skip_asserts(lines):
    return [re.sub(r"^(\s*)assert\s", r"\1assert True or ", line) for line in lines]


get_ipython().input_transformers_cleanup.append(_skip_asserts)  # noqa: F821
