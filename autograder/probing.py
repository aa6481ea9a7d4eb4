"""The kernel side of the hidden checks: probes, and the one call a hidden-test line makes.

A check is a pair. Its *probe* (`@GROUPS.probe(group)`, in the course's `lab/checks/<exercise>.py`) runs in the
student's kernel: it builds its inputs from a seed, calls the student's code and returns plain data (tensors,
numbers, strings, lists, dicts). Its *judge* (`@JUDGES.judge(probe)`, in `lab/judges/<exercise>.py`) runs in
nbgrader's process: it rebuilds the same inputs from the same seed, computes what is expected and compares.

What this side may hold (the grading kernel imports it; a student's code can read and change all of it): code that
builds inputs and calls the student's code, and early failures ("not an nn.Module"), which only ever take points
away. It never holds a reference implementation, an expected value or a threshold that could turn wrong data into a
pass: those live in `lab/judges/`, which is never staged into the jail (tests/test_probe_isolation.py).

Two ways a group runs, chosen by `GROUPS.run`:
- in a grading kernel (the channel was opened by the kernel's boot with the seed the grader drew for this
  notebook): the group's probes run and their data goes out on one probe line; nothing is decided here, nothing is
  raised, and the grader scores the cell from its judges alone;
- anywhere else (the instructor's source notebook, nbval on the solutions, the unit tests): the judges are imported
  and decide here, one result line per check, and the cell fails when a check fails.
"""
from __future__ import annotations

import contextlib
import difflib
import importlib
import random
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from autograder.protocol import check_line, probe_line

from . import wire as _wire

DEFAULT_SEED = 0  # the unit tests' and the instructor's seed; grading draws a fresh one per notebook
_CHANNEL: dict = {}  # set in the grading kernel only (open_channel)


def open_channel(seed: int) -> None:
    """In the grading kernel (autograder/jail/boot.py): probes use `seed` and send their data out instead of
    having it judged here. The judge keeps its own copy of the seed and trusts none of the data."""
    _CHANNEL["seed"] = seed


class CheckFailed(AssertionError):
    """A check's verdict: the message says what is wrong without giving the answer away."""


class UnknownName(KeyError):
    """A group, check or probe name that does not exist (a typo in a hidden-test line, a judge or a test): the
    message names it, the closest name and every name that exists. A KeyError, printed without KeyError's quotes."""

    def __init__(self, what: str, name: str, existing):
        existing = sorted(existing)
        close = difflib.get_close_matches(name, existing, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(f"{what} {name!r}{hint} (there are: {', '.join(existing) or 'none'})")

    def __str__(self) -> str:
        return self.args[0]


class GroupFailed(CheckFailed):
    """Some checks of a group failed (outside grading: the cell fails, with one line per check)."""

    def __init__(self, message: str, passed: int, total: int):
        super().__init__(message)
        self.passed, self.total = passed, total


@contextlib.contextmanager
def isolated_state() -> Iterator[None]:
    """Run probes without changing what the student's notebook sees afterwards: torch's, Python's and NumPy's
    global random streams, torch's thread count and grad mode are put back as they were."""
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
    """One probe: `probe(*args, seed=seed) -> dict` of plain data. Its docstring's first line describes the check
    (the line students read in their feedback)."""
    name: str
    group: str
    probe: Callable[..., dict]

    @property
    def description(self) -> str:
        return (self.probe.__doc__ or self.name).strip().splitlines()[0]

    def run_probe(self, args: tuple, seed: int) -> dict:
        """The probe's data, or {"error": message} when the student's code (or what it returned) made the probe
        fail: the judge turns that into a failed check with the same message."""
        seed_global_streams(seed)
        try:
            data = self.probe(*args, seed=seed)
        except CheckFailed as exc:
            return {"error": str(exc)}
        except Exception as exc:  # the student's code raised: say where, briefly
            return {"error": raised(exc)}
        try:
            _wire.encode(data)
        except Exception as exc:  # noqa: BLE001 -- e.g. the student's forward returned an object torch cannot save
            return {"error": f"what your code returned cannot be sent to the grader ({type(exc).__name__})"}
        return data


def seed_global_streams(seed: int) -> None:
    """torch's, Python's and NumPy's global random streams seeded from the notebook's seed, before every probe: what
    a probe leaves to them (a bias it does not overwrite, a dropout mask) is then the same in the student's kernel and
    where the judge runs the probe on the reference solution. (The caller restores them: isolated_state.)"""
    torch.manual_seed(seed % 2**63)
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)


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


def expect(condition: bool, message: str) -> None:
    """An early failure (a probe cannot go on: the student's object lacks what the notebook states)."""
    if not condition:
        raise CheckFailed(message)


@dataclass
class CheckGroups:
    """The probes of one exercise, and which of them each graded cell runs (a group)."""

    checks: dict[str, Check] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    name: str | None = None  # the module's short name; by default taken from the probes' module

    def probe(self, group: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
        """Decorator: register a probe in a group (a group is what one graded cell runs). Returns the function."""

        def register(fn: Callable[..., dict]) -> Callable[..., dict]:
            if fn.__name__ in self.checks:
                raise ValueError(f"duplicate check {fn.__name__}")
            self.checks[fn.__name__] = Check(fn.__name__, group, fn)
            self.groups.setdefault(group, []).append(fn.__name__)
            return fn

        return register

    @property
    def module(self) -> str:
        """The exercise's short name: `<course package>.checks.<module>` (probes), `<...>.judges.<module>`."""
        if self.name:
            return self.name
        return self._probe_module().rsplit(".", 1)[-1]

    @property
    def package(self) -> str:
        """The course's content package the probes live in (`lab` in this repository): its `judges` subpackage holds
        their judges."""
        return self._probe_module().rsplit(".", 2)[0]

    def _probe_module(self) -> str:
        # where the probes were defined (a function keeps its __module__ even when the jail renames the module)
        return next(iter(self.checks.values())).probe.__module__

    def names(self, group: str) -> list[str]:
        if group not in self.groups:
            raise UnknownName(f"{self.package}/checks/{self.module}.py has no check group", group, self.groups)
        return self.groups[group]

    def probe_group(self, group: str, *args, seed: int) -> dict:
        """{check name: data} for every probe of the group, the caller's global state left as it was."""
        with isolated_state():
            return {name: self.checks[name].run_probe(args, seed) for name in self.names(group)}

    def judges(self):
        """This exercise's judges (grader side; imported only where no grading channel is open)."""
        return importlib.import_module(f"{self.package}.judges.{self.module}").JUDGES

    def failures(self, names: list[str], *args, seed: int = DEFAULT_SEED) -> dict[str, str]:
        """Probe and judge the named checks in this process, through the wire as in grading; return {check name:
        message} for those that fail. `names`: check names, e.g. `self.names("values")` for a group's."""
        if names is None or isinstance(names, str):  # a group's name, or nothing: say what it takes
            raise TypeError(f"failures() takes a list of check names, got {names!r}: GROUPS.names(<group>) lists a "
                            f"group's (groups: {', '.join(sorted(self.groups))}), list(GROUPS.checks) every check")
        judges = self.judges()
        failed = {}
        for name in names:
            if name not in self.checks:
                raise UnknownName(f"{self.package}/checks/{self.module}.py has no check", name, self.checks)
            with isolated_state():  # the judge too: here it runs in the notebook's process
                data = self.checks[name].run_probe(args, seed)
                message = judges.verdict(name, _wire.roundtrip(data), seed)
            if message is not None:
                failed[name] = message
        return failed

    def run(self, group: str, *args) -> None:
        """What a hidden-test line calls. In a grading kernel: probe and send the data out (never raises). Elsewhere:
        judge here, print one line per check, raise GroupFailed when a check fails."""
        if "seed" in _CHANNEL:
            data = self.probe_group(group, *args, seed=_CHANNEL["seed"])
            # one write, so that the line reaches the cell's output whole (see boot.cap_output)
            print(probe_line(self.module, group, _wire.encode(data)) + "\n", end="")
            print(f"{len(data)} hidden checks measured; the grader judges them after this cell")
            return
        names = self.names(group)
        failed = self.failures(names, *args)
        for name in names:
            print(check_line(name, name not in failed, self.checks[name].description))
        if failed:
            details = "\n".join(f"- {name}: {msg}" for name, msg in failed.items())
            raise GroupFailed(f"{len(failed)} of {len(names)} checks failed:\n{details}",
                              passed=len(names) - len(failed), total=len(names))
