"""The judge: decides a graded cell's hidden checks in nbgrader's process, from the data the kernel sent back.

A hidden-test line `from lab.checks import M as _checks; _checks.GROUPS.run("G", ...)` names the course's content
package (`lab` here), the exercise and the check group (read from the cell's source, which nbgrader restored from its gradebook: the student cannot
change it). The probes in the kernel print one probe line per group (autograder/protocol.py); here the exercise's
judges (lab/judges/M.py) get that data and the notebook's seed (drawn by the grader, so data recorded in
another run does not match), rebuild the inputs, compute the expected results and compare.

The wire is strict: the cell must send exactly one probe line for each group its hidden-test lines name and nothing
else. A group with no line, with a second line, or a cell with a line for a group it does not run, gets no points
for the groups concerned, with a line saying why. No count or score ever travels from the kernel.
"""
from __future__ import annotations

import importlib
import re
from collections import Counter
from dataclasses import dataclass, field

from ..wire import BadProbeData, decode
from ..judging import Judges
from ..protocol import HIDDEN_TEST_LINE, PROBE_PREFIX, check_line, probe_records

CALL = HIDDEN_TEST_LINE


class UnknownCheckGroup(LookupError):
    """A hidden-test line names an exercise or group the judges do not know: a fault of the course, not the student."""


@dataclass
class GroupCall:
    package: str
    module: str
    group: str
    judges: Judges

    @property
    def names(self) -> list[str]:
        return self.judges.probes.names(self.group)


@dataclass
class Judgement:
    """The hidden checks of one cell: how many passed, the lines for the student."""
    passed: int = 0
    total: int = 0
    lines: list[str] = field(default_factory=list)


def judges_of(package: str, module: str) -> Judges:
    try:
        judges = importlib.import_module(f"{package}.judges.{module}").JUDGES
    except (ImportError, AttributeError) as exc:
        raise UnknownCheckGroup(f"no judges for the exercise {module!r} ({package}/judges/{module}.py): {exc}") \
            from None
    return judges


def group_calls(source: str) -> list[GroupCall]:
    """The check groups a cell's hidden-test lines run, with their (trusted, grader-side) judges."""
    calls = []
    for call in HIDDEN_TEST_LINE.finditer(source):
        package, module, group = call["package"], call["module"], call["group"]
        judges = judges_of(package, module)
        if group not in judges.probes.groups:
            raise UnknownCheckGroup(f"the exercise {module!r} has no check group {group!r}; its groups: "
                                    f"{sorted(judges.probes.groups)}")
        calls.append(GroupCall(package, module, group, judges))
    return calls


def judge_cell(calls: list[GroupCall], stdout: str, seed: int) -> Judgement:
    # a probe line starts a line of its own even when the output before it did not end one (a forward that prints
    # progress dots with end="", a stderr "\r" before it): a right answer's data is not lost for that
    records = probe_records(on_own_lines(stdout))
    sent = Counter((module, group) for module, group, _ in records)
    asked = {(call.module, call.group) for call in calls}
    stray = sorted(f"{module}.{group}" for module, group in sent if (module, group) not in asked)
    result = Judgement()
    for call in calls:
        names = call.names
        result.total += len(names)
        key = (call.module, call.group)
        try:
            if stray:
                raise BadProbeData(f"the cell sent data for hidden checks it does not run ({', '.join(stray)})")
            if sent[key] == 0:
                raise BadProbeData("the hidden test sent back no data (it did not run, or its output was hidden)")
            if sent[key] > 1:
                raise BadProbeData(f"the hidden test's data was sent {sent[key]} times (once is expected)")
            data = decode(next(d for m, g, d in records if (m, g) == key))
        except BadProbeData as exc:
            result.lines += [check_line(name, False, call.judges.probes.checks[name].description) for name in names]
            result.lines.append(f"  -> {exc}: these checks get no points")
            continue
        try:
            verdicts = call.judges.judge_group(call.group, data, seed)
        except Exception as exc:  # noqa: BLE001 -- whatever the data makes a judge raise fails these checks only
            verdicts = {name: f"the data sent back for this cell cannot be judged ({type(exc).__name__}): the hidden "
                              "test was changed or its data forged" for name in names}
        for name, message in verdicts.items():
            description = call.judges.probes.checks[name].description
            if message is None:
                result.passed += 1
                result.lines.append(check_line(name, True, description))
            else:
                result.lines += [check_line(name, False, description), f"  -> {message}"]
    return result


def on_own_lines(text: str) -> str:
    """text with a line break before every probe line's prefix that does not start a line."""
    return re.sub(r"(?<=[^\n])" + re.escape(PROBE_PREFIX), lambda m: "\n" + PROBE_PREFIX, text)
