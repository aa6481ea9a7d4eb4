"""The lines that hidden checks and the in-kernel guard print, written and parsed here only.

- Check lines, one per hidden check, written by `autograder.checks._core` for students to read in their feedback and
  read back by the instructor's report: `[ok  ] name: description` or `[FAIL] name: description`.
- Verdict lines, one per check group, written by the guard (`autograder.jail.guard`) inside the grading kernel and
  read by `SandboxedExecute` (is the cell's result real, and how many of its checks passed?) and by the feedback
  preprocessor (which drops them): `[verdict SEQ GROUP K/N MAC]` when the group ran (K of its N checks passed) or
  `[verdict SEQ GROUP failed MAC]` when it could not be trusted (the code under test tampered with the grader, or
  the group itself raised); MAC an HMAC of the rest with a key only the grader and the guard know.
- Probe lines, one per check group whose checks are judged outside the kernel: `[probe MODULE GROUP DATA]`, DATA
  the base64 of what the group's probes measured (autograder/checks/_wire.py). Written by `CheckGroups.run` in the
  grading kernel, read and then removed from the notebook by `SandboxedExecute`, whose judge decides the checks.
  Nothing in them is trusted: the judge rebuilds every input itself and only compares.

Standard library only: the module is also staged into the grading jail, where the guard imports it.
"""
from __future__ import annotations

import hashlib
import hmac
import re

CHECK_PASSED, CHECK_FAILED = "ok  ", "FAIL"
CHECK_LINE = re.compile(r"^\[(ok  |FAIL)\] (\w+):", re.MULTILINE)

VERDICT_PREFIX = "[verdict "
VERDICT_LINE = re.compile(r"^\[verdict (\d+) (\w+) (failed|\d+/\d+) ([0-9a-f]{32})\]$", re.M)
VERDICT_FAILED = "failed"

PROBE_PREFIX = "[probe "
PROBE_LINE = re.compile(r"^\[probe (\w+) (\w+) ([A-Za-z0-9+/=]*)\]$", re.M)


def verdict_status(passed: int, total: int) -> str:
    """The status a verdict line carries for a group that ran: K/N."""
    return f"{passed}/{total}"


def verdict_counts(status: str) -> tuple[int, int] | None:
    """(K, N) from a verdict status, or None for a failed (untrusted) group."""
    if status == VERDICT_FAILED:
        return None
    passed, total = (int(n) for n in status.split("/"))
    return (passed, total) if 0 <= passed <= total and total > 0 else None


def check_line(name: str, passed: bool, description: str) -> str:
    return f"[{CHECK_PASSED if passed else CHECK_FAILED}] {name}: {description}"


def parse_check_lines(text: str) -> list[tuple[str, bool]]:
    """(check name, passed) for each check line in text, in order."""
    return [(name, status == CHECK_PASSED) for status, name in CHECK_LINE.findall(text)]


def sign(key: bytes, seq: int, group: str, status: str) -> str:
    return hmac.new(key, f"{seq}:{group}:{status}".encode(), hashlib.sha256).hexdigest()[:32]


def verdict_line(key: bytes, seq: int, group: str, status: str) -> str:
    return f"{VERDICT_PREFIX}{seq} {group} {status} {sign(key, seq, group, status)}]"


def is_verdict_line(line: str) -> bool:
    return line.startswith(VERDICT_PREFIX)


def probe_line(module: str, group: str, data: str) -> str:
    return f"{PROBE_PREFIX}{module} {group} {data}]"


def is_protocol_line(line: str) -> bool:
    """A verdict or probe line: never cut from a cell's output by the kernel, never shown to students."""
    return line.startswith((VERDICT_PREFIX, PROBE_PREFIX))


def probe_records(text: str) -> dict[tuple[str, str], str]:
    """{(module, group): data} from the probe lines in text (the last one of a group wins)."""
    return {(module, group): data for module, group, data in PROBE_LINE.findall(text)}


def signature_ok(key: bytes, seq: int, group: str, status: str, mac: str) -> bool:
    return hmac.compare_digest(sign(key, seq, group, status), mac)


def signed_verdicts(text: str, key: bytes) -> dict[str, str]:
    """{check group: "K/N" | "failed"} from the verdict lines in text that carry a valid signature (the last
    one of a group wins); lines with a wrong signature are ignored."""
    verdicts = {}
    for seq, group, status, mac in VERDICT_LINE.findall(text):
        if signature_ok(key, int(seq), group, status, mac):
            verdicts[group] = status
    return verdicts
