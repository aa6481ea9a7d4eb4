# Cheat (issue 12): the verdict key is read from the guarded CheckGroups.run's closure, `verdict_line` taken from
# the guard's globals, and an input transformer rewrites every later cell that runs a check group into prints of
# correctly signed full-pass verdicts (no check, no visible test runs). Before the checks were judged outside the
# kernel this wrong RMSNorm got 8 of 8; now the verdicts stand for nothing and no probe data reaches the judge.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: UnconfirmedResult
import re
import sys

_core = sys.modules["autograder.checks._core"]
_run = _core.CheckGroups.run
_closure = dict(zip(_run.__code__.co_freevars, (c.cell_contents for c in _run.__closure__)))
_key = _closure["key"]
_verdict_line = _run.__globals__["protocol"].verdict_line
_groups = sys.modules["autograder.checks.rmsnorm"].GROUPS.groups


def _forged_verdicts(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    if not found:
        return lines
    group, n = found[1], len(_groups[found[1]])
    return [f"print({_verdict_line(_key, i, group, f'{n}/{n}')!r})\n" for i in range(1, 6)]


get_ipython().input_transformers_cleanup.append(_forged_verdicts)  # noqa: F821
