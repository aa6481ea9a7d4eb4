# Cheat (issue 12), on the new design: there is no guard, key or verdict line any more, so the attack that read the
# verdict key from CheckGroups.run's closure becomes "rewrite every hidden-test cell into prints of what a full pass
# looked like": the result lines (`[ok  ] name: ...`) and the score line the grader writes, for every check of the
# group, instead of running the probes. Nothing the kernel prints is read as a result: the judge gets no probe data
# for any group, every check fails.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: sent back no data
import re
import sys

_groups = sys.modules["lab.checks.rmsnorm"].GROUPS
_protocol = sys.modules["autograder.protocol"]


def _forged_results(lines):
    found = re.search(r"GROUPS\.run\(\"(\w+)\"", "".join(lines))
    if not found:
        return lines
    names = _groups.groups[found[1]]
    out = [f"print({_protocol.check_line(n, True, _groups.checks[n].description)!r})\n" for n in names]
    return out + [f"print('hidden checks: {len(names)} of {len(names)} passed, 2 of 2 points')\n"]


get_ipython().input_transformers_cleanup.append(_forged_results)  # noqa: F821
