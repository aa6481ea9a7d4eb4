"""The lines hidden checks print, written and parsed here only.

- Check lines, one per hidden check, for students to read in their feedback and read back by the instructor's
  report: `[ok  ] name: description` or `[FAIL] name: description`. Written by the grader's judge
  (autograder/nbgrader_ext/judge.py) in grading, by `autograder.probing` elsewhere.
- Probe lines, one per check group a graded cell runs: `[probe MODULE GROUP DATA]`, DATA the base64 of what the
  group's probes measured (autograder/wire.py). Printed by the probes in the grading kernel, read and then
  removed from the notebook by `SandboxedExecute`, whose judges decide the checks. Nothing in them is trusted: the
  judges rebuild every input themselves, and a cell whose probe lines are not exactly the ones its hidden-test lines
  ask for (a missing one, a second one, one for another group) gets no points for the groups concerned.

Standard library only: the module is also staged into the grading jail, where the probes import it.
"""
from __future__ import annotations

import re

CHECK_PASSED, CHECK_FAILED = "ok  ", "FAIL"
CHECK_LINE = re.compile(r"^\[(ok  |FAIL)\] (\w+):", re.MULTILINE)

# A hidden-test line, as the instructor writes it in a source notebook (and nbgrader restores it from the gradebook
# when grading): `from lab.checks import decoder as _checks; _checks.GROUPS.run("shapes", TransformerDecoderBlock)`.
# Groups: the course's content package, the exercise's probe module, the alias, the check group, the name it runs on.
HIDDEN_TEST_LINE = re.compile(r"""(?P<package>\w+)\.checks\s+import\s+(?P<module>\w+)\s+as\s+(?P<alias>\w+)\s*;\s*"""
                              r"""(?P=alias)\.GROUPS\.run\(\s*["'](?P<group>\w*)["']\s*(?:,\s*(?P<argument>\w+))?""")

PROBE_PREFIX = "[probe "
PROBE_LINE = re.compile(r"^\[probe (\w+) (\w+) ([A-Za-z0-9+/=]*)\]$", re.M)


def check_line(name: str, passed: bool, description: str) -> str:
    return f"[{CHECK_PASSED if passed else CHECK_FAILED}] {name}: {description}"


def parse_check_lines(text: str) -> list[tuple[str, bool]]:
    """(check name, passed) for each check line in text, in order."""
    return [(name, status == CHECK_PASSED) for status, name in CHECK_LINE.findall(text)]


def probe_line(module: str, group: str, data: str) -> str:
    return f"{PROBE_PREFIX}{module} {group} {data}]"


def is_protocol_line(line: str) -> bool:
    """A probe line: never cut from a cell's output by the kernel, never shown to students."""
    return line.startswith(PROBE_PREFIX)


def probe_records(text: str) -> list[tuple[str, str, str]]:
    """(module, group, data) for every probe line in text, in order (duplicates kept: the judge refuses them)."""
    return PROBE_LINE.findall(text)
