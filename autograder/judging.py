"""Judging probe data: the registry of an exercise's judges, strict reading of what the kernel sent, comparisons.

A probe's judge is either written (`@JUDGES.judge(probe)`: rebuild the inputs from the seed, compute what is
expected, compare) or, for an exercise whose judges name its reference solution (`Judges(probes.GROUPS,
reference=solution("05_x", "X"))`), the same probe run here on the instructor's solution for the same seed: the
student's data must be that data, key for key (tensors within the tolerance, everything else equal).

Nothing the kernel sent is trusted. A group's data must be exactly what the judges asked for: one entry per probe of
the group (no more, no fewer), and within each, only the keys the probe's judge reads (`Received`): a key the judge
did not expect fails the check, as does a missing one or a value of another type. The judges compute every expected value from
the seed themselves.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from autograder import wire
from autograder.paths import ASSIGNMENT
from autograder.probing import CheckFailed, CheckGroups, UnknownName, expect, isolated_state, raised

__all__ = ["CheckFailed", "Judges", "Received", "Solution", "expect", "expect_close", "returned", "same_data",
           "solution"]
log = logging.getLogger(__name__)


class Received(dict):
    """Probe data as the judge reads it: remembers which of the probe's keys were read, so that anything sent beyond
    them (a second result, an extra count) can be refused after the judge has passed it."""

    def __init__(self, data: dict):
        super().__init__(data)
        self.read: set = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    # a judge that walks the whole dict (the student's own parameter names, say) has read all of it
    def __iter__(self):
        self.read.update(super().keys())
        return super().__iter__()

    def items(self):
        self.read.update(super().keys())
        return [(k, super(Received, self).__getitem__(k)) for k in super().keys()]

    def values(self):
        return [v for _, v in self.items()]

    def unread(self) -> list[str]:
        """The probe's keys the judge never read (nested data is the judge's to read: a report of the student's
        module carries more than every judge needs)."""
        return [str(k) for k in super().keys() if k not in self.read]


@dataclass(frozen=True)
class Solution:
    """The instructor's solution of a notebook as a judge's reference: the objects it defines under `names`, in the
    order the hidden-test lines pass the student's (see autograder/reference.py)."""
    notebook: str
    names: tuple[str, ...]
    assignment: str = ASSIGNMENT

    def objects(self) -> tuple:
        from autograder.reference import reference_objects  # runs the source notebook: only when a judge needs it

        return reference_objects(self.notebook, self.names, self.assignment)


def solution(notebook: str, *names: str, assignment: str = ASSIGNMENT) -> Solution:
    """`solution("05_swiglu", "SwiGLU")`: the class (or function) `SwiGLU` as the source notebook 05_swiglu's
    solution cells define it."""
    if not names:
        raise ValueError("solution(notebook, *names): name what the hidden-test lines run the checks on")
    return Solution(notebook, names, assignment)


class ReferenceFailed(Exception):
    """The reference solution cannot be run, or fails the probe: a fault of the course, not the student."""


@dataclass
class Judges:
    """The judges of one exercise's probes: `JUDGES = Judges(probes.GROUPS)`, then `@JUDGES.judge(probe)` on a
    function `(data, seed) -> None` that raises CheckFailed when the data is not what the seed's inputs give.

    With `reference=solution(notebook, name)`, a probe without a judge of its own is judged by comparison with what
    the same probe returns for the reference solution and the same seed (`same_data`, tensors within rtol/atol)."""

    probes: CheckGroups
    reference: Solution | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    fns: dict[str, Callable[[dict, int], None]] = field(default_factory=dict)

    def judge(self, probe: Callable | str) -> Callable:
        name = probe if isinstance(probe, str) else probe.__name__
        if name not in self.probes.checks:
            raise UnknownName(f"a judge in {self.probes.package}/judges/{self.probes.module}.py names no probe of "
                              f"{self.probes.package}/checks/{self.probes.module}.py:", name, self.probes.checks)
        if name in self.fns:
            raise ValueError(f"two judges for {name}")

        def register(fn: Callable[[dict, int], None]) -> Callable[[dict, int], None]:
            self.fns[name] = fn
            return fn

        return register

    def missing(self) -> list[str]:
        """Probes that have no judge (a test requires none)."""
        if self.reference is not None:
            return []
        return [name for name in self.probes.checks if name not in self.fns]

    def expected(self, name: str, seed: int) -> object:
        """What probe `name` returns for the reference solution and `seed`, as the wire delivers it."""
        try:
            objects = self.reference.objects()
        except Exception as exc:  # noqa: BLE001 -- any failure of the instructor's notebook is the course's
            raise ReferenceFailed(f"the reference solution ({self.reference.notebook}) cannot be run: "
                                  f"{type(exc).__name__}: {exc}") from exc
        with isolated_state():
            data = self.probes.checks[name].run_probe(objects, seed)
        if isinstance(data, dict) and "error" in data:
            raise ReferenceFailed(f"the reference solution ({self.reference.notebook}) fails this check: "
                                  f"{data['error']}")
        return wire.roundtrip(data)

    def verdict(self, name: str, data: object, seed: int) -> str | None:
        """None when `data` (untrusted) is what check `name` expects for `seed`; otherwise the failure message."""
        fn = self.fns.get(name)
        if fn is None and self.reference is not None and name in self.probes.checks:
            try:  # before the student's data is read: a fault here is the course's, said as such
                expected = self.expected(name, seed)
            except ReferenceFailed as exc:
                log.error("check %s: %s", name, exc)
                return f"{exc} (a fault of the course: tell your instructor)"

            def fn(data: dict, seed: int, expected=expected) -> None:
                same_data(data, expected, "", self.rtol, self.atol)
        if fn is None:
            return "this check has no judge (a fault of the course: tell your instructor)"
        if not isinstance(data, dict):
            return "no data came back for this check (the hidden test did not run to its end)"
        if "error" in data:
            message = data["error"]
            return message[:500] if isinstance(message, str) and len(data) == 1 else "the check failed"
        received = Received(data)
        try:
            fn(received, seed)
        except CheckFailed as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 -- malformed data (missing keys, wrong types) is a failed check
            return (f"the data sent back for this check is not what the grader expects ({type(exc).__name__}): the "
                    "hidden test was changed or its data forged")
        extra = received.unread()
        if extra:
            return (f"the data sent back for this check has entries the grader did not ask for ({', '.join(extra[:5])}):"
                    " the hidden test was changed or its data forged")
        return None

    def judge_group(self, group: str, data: object, seed: int) -> dict[str, str | None]:
        """{check name: None (passed) or message} for every check of the group, from the group's data as sent."""
        names = self.probes.names(group)
        if not isinstance(data, dict) or set(data) != set(names):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            message = (f"the data sent back for this cell is not what the grader asked for (expected one result for "
                       f"each of {len(names)} checks, got {got}): the hidden test was changed or its data forged")
            return {name: message for name in names}
        return {name: self.verdict(name, data[name], seed) for name in names}


def returned(value: object, what: str, shape: tuple | None = None) -> torch.Tensor:
    """A tensor the student's code returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        name = value.strip("<>") if isinstance(value, str) else type(value).__name__
        raise CheckFailed(f"{what}: expected a tensor, got {name}")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), f"{what}: shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def expect_close(actual: torch.Tensor, expected: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    expect(isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}")
    expect(actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    actual64, expected64 = actual.detach().double(), expected.detach().double()
    expect(bool(torch.isfinite(actual64).all()), f"{what}: the result contains inf or NaN")
    if not torch.allclose(actual64, expected64, rtol=rtol, atol=atol):
        err = (actual64 - expected64).abs().max().item()
        raise CheckFailed(f"{what}: values are wrong (largest absolute error {err:.3g})")


def same_data(actual: object, expected: object, where: str, rtol: float, atol: float) -> None:
    """`actual` (untrusted) is `expected` (what the reference gave): the same keys at every level of a dict, the same
    length of a list, tensors of the same shape whose values are close (compared in float64; integer and boolean
    tensors exactly: a probe that cares about a dtype reports it, e.g. str(y.dtype)), and every other value of the
    same type and equal (floats within the tolerance). `where` names the entry in the message ("y", "grads[1]")."""
    what = where or "the data"
    if isinstance(expected, dict):
        expect(isinstance(actual, dict), f"{what}: expected entries, got {_kind(actual)}")
        expect(set(actual.keys()) == set(expected), f"{what}: entries {sorted(map(str, actual.keys()))}, expected "
                                                    f"{sorted(map(str, expected))}")
        for key in expected:
            same_data(actual[key], expected[key], f"{where}.{key}" if where else str(key), rtol, atol)
    elif isinstance(expected, (list, tuple)):
        expect(isinstance(actual, (list, tuple)), f"{what}: expected a list, got {_kind(actual)}")
        expect(len(actual) == len(expected), f"{what}: {len(actual)} items, expected {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            same_data(a, e, f"{where}[{i}]", rtol, atol)
    elif isinstance(expected, torch.Tensor):
        tensor = returned(actual, what)
        expect(tensor.shape == expected.shape, f"{what}: shape {tuple(tensor.shape)}, expected {tuple(expected.shape)}")
        if expected.is_floating_point() or expected.is_complex():
            expect(tensor.is_floating_point() or tensor.is_complex(), f"{what}: {tensor.dtype} values, expected "
                                                                      "floating point")
            a64, e64 = tensor.detach().double(), expected.detach().double()
            expect(bool((torch.isfinite(a64) == torch.isfinite(e64)).all()), f"{what}: the result contains inf or NaN"
                   if not bool(torch.isfinite(a64).all()) else f"{what}: finite where inf or NaN is expected")
            if not torch.allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True):
                finite = torch.isfinite(e64)
                err = (a64[finite] - e64[finite]).abs().max().item() if bool(finite.any()) else float("nan")
                raise CheckFailed(f"{what}: values are wrong (largest absolute error {err:.3g})")
        else:
            expect(tensor.dtype == expected.dtype and torch.equal(tensor, expected), f"{what}: values are wrong")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        expect(type(actual) is float, f"{what}: expected a number, got {_kind(actual)}")
        expect(math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(actual) and
                                                                              math.isnan(expected)),
               f"{what}: {actual:.6g}, expected {expected:.6g}")
    else:
        # str (a probe's "<NoneType>" for a non-tensor, a dtype, an exception's name), int, bool, None: exactly
        expect(type(actual) is type(expected), f"{what}: expected {_kind(expected)}, got {_kind(actual)}")
        expect(actual == expected, f"{what}: {_shown(actual)}, expected {_shown(expected)}")


def _kind(value: object) -> str:
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return value.strip("<>")  # what a probe's plain() reports of a non-tensor the student's code returned
    return type(value).__name__


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ += ["raised"]
