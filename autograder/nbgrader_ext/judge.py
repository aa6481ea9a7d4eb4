"""The judge: decides a graded cell's judged checks in nbgrader's process, from the data the kernel sent back.

A hidden-test line `from autograder.checks import M as _checks; _checks.GROUPS.run("G", ...)` names the check module
and group (read from the cell's source, which nbgrader restored from its gradebook). For the group's judged checks
the kernel prints one probe line (autograder/protocol.py); here each check's judge gets its part of that data and
the notebook's seed (drawn by the grader, so data recorded in another run does not match), rebuilds the inputs,
computes the expected results and compares. Nothing the kernel printed is trusted: missing, unreadable or forged
data fails the checks, with a line saying so.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from ..checks._core import CheckFailed, CheckGroups
from ..checks._wire import BadProbeData, decode
from ..protocol import check_line, probe_records

CALL = re.compile(r"""autograder\.checks\s+import\s+(\w+)\s+as\s+(\w+)\s*;\s*\2\.GROUPS\.run\(\s*["'](\w+)["']""")


@dataclass
class GroupCall:
    module: str
    group: str
    groups: CheckGroups

    @property
    def judged(self) -> list[str]:
        return self.groups.judged_names(self.group)

    @property
    def guarded(self) -> list[str]:
        return self.groups.guarded_names(self.group)


@dataclass
class Judgement:
    """The judged checks of one cell: how many passed, the lines for the student, whether data was missing."""
    passed: int = 0
    total: int = 0
    lines: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # groups with no readable probe data at all


def check_groups(module: str) -> CheckGroups | None:
    try:
        groups = importlib.import_module(f"autograder.checks.{module}").GROUPS
    except (ImportError, AttributeError):
        return None
    return groups if isinstance(groups, CheckGroups) else None


def group_calls(source: str) -> list[GroupCall]:
    """The check groups a cell's hidden-test lines run, with their (trusted, grader-side) check registries."""
    calls = []
    for module, _, group in CALL.findall(source):
        groups = check_groups(module)
        if groups is not None and group in groups.groups:
            calls.append(GroupCall(module, group, groups))
    return calls


def judge_cell(calls: list[GroupCall], stdout: str, seed: int) -> Judgement:
    records = probe_records(stdout)
    result = Judgement()
    for call in calls:
        names = call.judged
        if not names:
            continue
        result.total += len(names)
        encoded = records.get((call.module, call.group))
        try:
            if encoded is None:
                raise BadProbeData("the hidden test sent back no data (it did not run, or its output was hidden)")
            data = decode(encoded)
        except BadProbeData as exc:
            result.missing.append(call.group)
            result.lines += [check_line(name, False, call.groups.checks[name].description) for name in names]
            result.lines.append(f"  -> {exc}: these checks get no points")
            continue
        for name in names:
            check = call.groups.checks[name]
            try:
                check.run_judge(data.get(name), seed)
            except CheckFailed as exc:
                result.lines += [check_line(name, False, check.description), f"  -> {exc}"]
                continue
            result.passed += 1
            result.lines.append(check_line(name, True, check.description))
    return result
