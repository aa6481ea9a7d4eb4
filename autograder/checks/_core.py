"""What every exercise's checks share: registering checks, grouping them into graded cells, clear failures."""
from __future__ import annotations

import contextlib
import random
import sys
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from autograder.protocol import check_line


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
    name: str
    fn: Callable[..., None]

    @property
    def description(self) -> str:
        return (self.fn.__doc__ or self.name).strip().splitlines()[0]


@dataclass
class CheckGroups:
    """The checks of one exercise, and which of them each graded cell runs."""

    checks: dict[str, Check] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)

    def check(self, group: str) -> Callable:
        """Decorator: register a check in a group (a group is what one graded cell runs)."""

        def register(fn: Callable[..., None]) -> Callable[..., None]:
            if fn.__name__ in self.checks:
                raise ValueError(f"duplicate check {fn.__name__}")
            self.checks[fn.__name__] = Check(fn.__name__, fn)
            self.groups.setdefault(group, []).append(fn.__name__)
            return fn

        return register

    def failures(self, names: list[str], *args) -> dict[str, str]:
        """Run the named checks; return {check name: message} for those that fail. The caller's random state,
        thread count and grad mode are the same afterwards (isolated_state)."""
        with isolated_state():
            return self._failures(names, *args)

    def _failures(self, names: list[str], *args) -> dict[str, str]:
        failed = {}
        for name in names:
            try:
                self.checks[name].fn(*args)
            except CheckFailed as exc:
                failed[name] = str(exc)
            except Exception as exc:  # the student's code raised: say where, briefly
                last = traceback.extract_tb(exc.__traceback__)[-1]
                failed[name] = (f"your code raised {type(exc).__name__}: {exc} "
                                f"(line {last.lineno}: {(last.line or '').strip()})")
        return failed

    def run(self, group: str, *args) -> None:
        """Run one group, print one line per check, and fail the cell if any check failed (GroupFailed says how
        many passed: in the grading kernel the guard turns that into partial credit, see autograder/jail/guard.py)."""
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
