# Cheat: an input transformer rewrites every later cell that mentions the checks (or an assert) into `pass` (the
# hidden-test code changed before it runs). The cell then sends no probe data: its hidden checks fail.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: sent back no data


def _skip_tests(lines):
    return ["pass\n"] if any("GROUPS" in line or "assert" in line for line in lines) else lines


get_ipython().input_transformers_cleanup.append(_skip_tests)  # noqa: F821
