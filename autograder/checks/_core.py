"""What every exercise's checks share: registering checks, grouping them into graded cells, clear failures.

Two kinds of check (see the README's threat model):
- a *judged* check (`@GROUPS.probe(group)` on the probe, `@that.judge` on the judge) is a pair: the probe runs in
  the student's kernel, builds its inputs from a seed, calls the student's code and returns plain data (tensors,
  shapes, dtype names, counts); the judge gets that data and the same seed, rebuilds the inputs itself, computes
  what is expected and raises CheckFailed when the data does not match. In grading, the judge runs in nbgrader's
  process (autograder/nbgrader_ext/judge.py), out of reach of the student's code; in the unit tests and in
  `nbgrader validate`, probe and judge run one after the other in one process, through the same serialisation.
- a *guarded* check (`@GROUPS.check(group)`) runs whole in the kernel, under the in-kernel guard
  (autograder/jail/guard.py): only for behaviour that has no data witness (how often a layer runs, a memory peak).
"""
from __future__ import annotations

import contextlib
import random
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from autograder.protocol import check_line, probe_line

from . import _wire

DEFAULT_SEED = 0  # the unit tests' and `nbgrader validate`'s seed; grading draws a fresh one per notebook
_CHANNEL: dict = {}  # set in the grading kernel only (open_channel): judged checks send their data out


def open_channel(seed: int) -> None:
    """In the grading kernel (autograder/jail/boot.py): judged checks probe with `seed` and print their data on a
    probe line instead of judging themselves. Nothing here needs protecting: the judge uses its own copy of the
    seed and trusts none of the data."""
    _CHANNEL["seed"] = seed


class CheckFailed(AssertionError):
    """A check's verdict: the message says what is wrong without giving the answer away."""


class GroupFailed(CheckFailed):
    """Some checks of a group failed: `passed` of `total` passed (what partial credit is computed from)."""

    def __init__(self, message: str, passed: int, total: int):
        super().__init__(message)
        self.passed, self.total = passed, total


@contextlib.contextmanager
def isolated_state() -> Iterator[None]:
    """Run checks without changing what the student's notebook sees afterwards: torch's, Python's and NumPy's
    global random streams, torch's thread count and grad mode are put back as they were. (A check that seeds the
    global generator would otherwise change what every later cell of the notebook draws.)"""
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    python_state = random.getstate()
    numpy = sys.modules.get("numpy")
    numpy_state = numpy.random.get_state() if numpy is not None else None
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
        random.setstate(python_state)
        if numpy_state is not None:
            numpy.random.set_state(numpy_state)


@dataclass
class Check:
    """A guarded check (`fn(*args)` raises CheckFailed) or a judged one (`probe(*args, seed) -> dict` in the kernel,
    `judge_fn(data, seed)` raises CheckFailed, out of the kernel)."""
    name: str
    fn: Callable[..., None] | None = None
    probe: Callable[..., dict] | None = None
    judge_fn: Callable[[dict, int], None] | None = None

    @property
    def judged(self) -> bool:
        return self.probe is not None

    @property
    def description(self) -> str:
        return ((self.probe or self.fn).__doc__ or self.name).strip().splitlines()[0]

    def judge(self, fn: Callable[[dict, int], None]) -> "Check":
        """Decorator: the judge of this probe."""
        self.judge_fn = fn
        return self

    def run_probe(self, args: tuple, seed: int) -> dict:
        """The probe's data, or {"error": message} when the student's code (or what it returned) made the probe
        fail: the judge turns that into a failed check with the same message."""
        try:
            data = self.probe(*args, seed=seed)
        except CheckFailed as exc:
            return {"error": str(exc)}
        except Exception as exc:  # the student's code raised: say where, briefly
            return {"error": raised(exc)}
        try:
            _wire.encode(data)
        except Exception as exc:  # noqa: BLE001: e.g. the student's forward returned an object torch cannot save
            return {"error": f"what your code returned cannot be sent to the grader ({type(exc).__name__})"}
        return data

    def run_judge(self, data: object, seed: int) -> None:
        """Raise CheckFailed unless `data` (untrusted) is what this check expects for `seed`."""
        if not isinstance(data, dict):
            raise CheckFailed("no data came back for this check (the hidden test did not run to its end)")
        if "error" in data:
            message = data["error"]
            raise CheckFailed(message[:500] if isinstance(message, str) else "the check failed")
        try:
            self.judge_fn(data, seed)
        except CheckFailed:
            raise
        except Exception as exc:  # noqa: BLE001: malformed data (missing keys, wrong types) is a failed check
            raise CheckFailed(f"the data sent back for this check is not what the grader expects "
                              f"({type(exc).__name__}): the hidden test was changed or its data forged") from None


def raised(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (line {last.lineno}: {(last.line or '').strip()})" if last else ""
    return f"your code raised {type(exc).__name__}: {exc}{where}"


def plain(value: object) -> object:
    """What a probe reports of a value the student's code returned: a detached plain tensor (no subclass, no
    autograd history), or the name of its type when it is not a tensor (the judge then says so)."""
    if not isinstance(value, torch.Tensor):
        return f"<{type(value).__name__}>"
    return value.detach().as_subclass(torch.Tensor).clone()


@dataclass
class CheckGroups:
    """The checks of one exercise, and which of them each graded cell runs."""

    checks: dict[str, Check] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    name: str | None = None  # the check module's short name; by default taken from the checks' module

    def _register(self, group: str, check: Check) -> Check:
        if check.name in self.checks:
            raise ValueError(f"duplicate check {check.name}")
        self.checks[check.name] = check
        self.groups.setdefault(group, []).append(check.name)
        return check

    def check(self, group: str) -> Callable:
        """Decorator: register a guarded check in a group (a group is what one graded cell runs)."""

        def register(fn: Callable[..., None]) -> Callable[..., None]:
            self._register(group, Check(fn.__name__, fn=fn))
            return fn

        return register

    def probe(self, group: str) -> Callable[[Callable[..., dict]], Check]:
        """Decorator: register the probe of a judged check; decorate its judge with `@<probe name>.judge`."""

        def register(fn: Callable[..., dict]) -> Check:
            return self._register(group, Check(fn.__name__, probe=fn))

        return register

    @property
    def module(self) -> str:
        """The check module's short name (what a hidden-test line imports: `autograder.checks.<module>`)."""
        if self.name:
            return self.name
        first = next(iter(self.checks.values()))
        return (first.probe or first.fn).__module__.rsplit(".", 1)[-1]

    def judged_names(self, group: str) -> list[str]:
        return [name for name in self.groups[group] if self.checks[name].judged]

    def guarded_names(self, group: str) -> list[str]:
        return [name for name in self.groups[group] if not self.checks[name].judged]

    def failures(self, names: list[str], *args, seed: int = DEFAULT_SEED) -> dict[str, str]:
        """Run the named checks in this process (judged ones: probe, the channel's round trip, judge); return
        {check name: message} for those that fail. The caller's random state, thread count and grad mode are the
        same afterwards (isolated_state)."""
        with isolated_state():
            return self._failures(names, *args, seed=seed)

    def _failures(self, names: list[str], *args, seed: int = DEFAULT_SEED) -> dict[str, str]:
        failed = {}
        for name in names:
            check = self.checks[name]
            try:
                if check.judged:
                    check.run_judge(_wire.roundtrip(check.run_probe(args, seed)), seed)
                else:
                    check.fn(*args)
            except CheckFailed as exc:
                failed[name] = str(exc)
            except Exception as exc:  # the student's code raised: say where, briefly
                failed[name] = raised(exc)
        return failed

    def send_probes(self, group: str, *args) -> None:
        """In the grading kernel: run the group's probes and print their data on one probe line for the judge."""
        seed = _CHANNEL["seed"]
        with isolated_state():
            data = {name: self.checks[name].run_probe(args, seed) for name in self.judged_names(group)}
        print(probe_line(self.module, group, _wire.encode(data)) + "\n", end="")  # one write: see boot.cap_output
        print(f"{len(data)} hidden checks measured; the grader judges them after this cell")

    def run(self, group: str, *args) -> None:
        """Run one group, print one line per check, and fail the cell if any check failed (GroupFailed says how
        many passed: in the grading kernel the guard signs that count and the grader scores the cell from it, see
        autograder/jail/guard.py and autograder/nbgrader_ext/execute.py).
        In the grading kernel, the group's judged checks only probe: the grader judges them (send_probes)."""
        if "seed" in _CHANNEL and self.judged_names(group):
            self.send_probes(group, *args)
            names = self.guarded_names(group)
            if not names:
                return
        else:
            names = self.groups[group]
        failed = self.failures(names, *args)
        for name in names:
            print(check_line(name, name not in failed, self.checks[name].description))
        if failed:
            details = "\n".join(f"- {name}: {msg}" for name, msg in failed.items())
            raise GroupFailed(f"{len(failed)} of {len(names)} checks failed:\n{details}",
                              passed=len(names) - len(failed), total=len(names))


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_close(actual: torch.Tensor, expected: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    expect(isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}")
    expect(actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    actual64, expected64 = actual.detach().double(), expected.detach().double()
    expect(bool(torch.isfinite(actual64).all()), f"{what}: the result contains inf or NaN")
    if not torch.allclose(actual64, expected64, rtol=rtol, atol=atol):
        err = (actual64 - expected64).abs().max().item()
        raise CheckFailed(f"{what}: values are wrong (largest absolute error {err:.3g})")
