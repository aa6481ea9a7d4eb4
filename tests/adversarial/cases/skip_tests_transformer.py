# Cheat: an input transformer rewrites every later cell that mentions the checks into `pass` (changing the
# hidden-test code before it runs).
# base: wrong
# expect: score <= baseline
# reason: UnconfirmedResult


def _skip_tests(lines):
    return ["pass\n"] if any("GROUPS" in line or "assert" in line for line in lines) else lines


get_ipython().input_transformers_cleanup.append(_skip_tests)  # noqa: F821
