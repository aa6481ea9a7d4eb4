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

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from autograder import wire
from autograder.paths import ASSIGNMENT
from autograder.probing import CheckFailed, CheckGroups, UnknownName, expect, isolated_state, raised

__all__ = ["CheckFailed", "Judges", "Received", "Solution", "expect", "expect_close", "one_line", "returned",
           "same_data", "solution"]
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
        module carries more than every judge needs), described safely (keys are the student's)."""
        return [_key(k) for k in super().keys() if k not in self.read]


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
        try:  # a fresh copy for every run: a probe that changes what it is given (a model's .grad) must not carry
            objects = copy.deepcopy(objects)  # it into the next student's judgement in this grading process
        except Exception:  # noqa: BLE001 -- classes and functions are copied as themselves; others are used as they are
            log.warning("the reference objects of %s cannot be copied: used as they are", self.reference.notebook)
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
            return one_line(message) if isinstance(message, str) and len(data) == 1 else "the check failed"
        received = Received(data)
        try:
            fn(received, seed)
            extra = received.unread()
        except CheckFailed as exc:  # the judge's words (long ones explain a witness), flattened; its quotes of the
            return one_line(str(exc), 2000)  # student's text are cut where they are made (_kind, _shown, returned)
        except Exception as exc:  # noqa: BLE001 -- malformed data (missing keys, wrong types) is a failed check
            return (f"the data sent back for this check is not what the grader expects ({type(exc).__name__}): the "
                    "hidden test was changed or its data forged")
        if extra:
            return one_line(f"the data sent back for this check has entries the grader did not ask for "
                            f"({', '.join(extra[:5])}): the hidden test was changed or its data forged")
        return None

    def judge_group(self, group: str, data: object, seed: int) -> dict[str, str | None]:
        """{check name: None (passed) or message} for every check of the group, from the group's data as sent."""
        names = self.probes.names(group)
        if not isinstance(data, dict) or set(data) != set(names):
            got = _keys(data) if isinstance(data, dict) else type(data).__name__
            message = (f"the data sent back for this cell is not what the grader asked for (expected one result for "
                       f"each of {len(names)} checks, got {got}): the hidden test was changed or its data forged")
            return {name: one_line(message) for name in names}
        return {name: self.verdict(name, data[name], seed) for name in names}


def returned(value: object, what: str, shape: tuple | None = None) -> torch.Tensor:
    """A tensor the student's code returned (the probe reports the type's name for anything else)."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what}: expected a tensor, got {_kind(value)}")
    if shape is not None:
        expect(tuple(value.shape) == tuple(shape), f"{what}: shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def expect_close(actual: torch.Tensor, expected: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    expect(isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}")
    expect(actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
    actual64, expected64 = actual.detach().double(), expected.detach().double()
    expect(bool(torch.isfinite(actual64).all()), f"{what}: the result contains inf or NaN")
    _values_close(actual64, expected64, what, rtol, atol)


def _values_close(a64: torch.Tensor, e64: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    """The float64 comparison both expect_close and same_data end with (inf and NaN already placed alike)."""
    if not torch.allclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True):
        finite = torch.isfinite(e64)
        err = (a64[finite] - e64[finite]).abs().max().item() if bool(finite.any()) else float("nan")
        raise CheckFailed(f"{what}: values are wrong (largest absolute error {err:.3g})")


def same_data(actual: object, expected: object, where: str, rtol: float, atol: float) -> None:
    """`actual` (untrusted) is `expected` (what the reference gave): the same keys at every level of a dict, the same
    length of a list, tensors of the same shape whose values are close (floating point compared in float64, complex
    as complex; integers exactly, in any integer dtype; booleans exactly: a probe that cares about a dtype reports it,
    e.g. str(y.dtype)), and every other value of the same type and equal (floats within the tolerance). `where` names
    the entry in the message ("y", "grads[1]"). No message shows the reference's values."""
    what = where or "the data"
    if isinstance(expected, dict):
        expect(isinstance(actual, dict), f"{what}: expected entries, got {_kind(actual)}")
        expect(set(actual.keys()) == set(expected), f"{what}: entries {_keys(actual)}, expected {_keys(expected)}")
        for key in expected:
            same_data(actual[key], expected[key], f"{where}.{key}" if where else str(key), rtol, atol)
    elif isinstance(expected, (list, tuple)):
        expect(isinstance(actual, (list, tuple)), f"{what}: expected a list, got {_kind(actual)}")
        expect(len(actual) == len(expected), f"{what}: {len(actual)} items, expected {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            same_data(a, e, f"{where}[{i}]", rtol, atol)
    elif isinstance(expected, torch.Tensor):
        _same_tensor(returned(actual, what), expected, what, rtol, atol)
    elif isinstance(expected, float):
        expect(type(actual) is float, f"{what}: expected a number, got {_kind(actual)}")
        expect(math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(actual) and
                                                                              math.isnan(expected)),
               f"{what}: {actual:.6g} is wrong")
    else:
        # str (a probe's "<NoneType>" for a non-tensor, a dtype, an exception's name), int, bool, None: exactly
        expect(type(actual) is type(expected), f"{what}: expected {_kind(expected)}, got {_kind(actual)}")
        expect(actual == expected, f"{what}: {_shown(actual)} is wrong")


def _same_tensor(tensor: torch.Tensor, expected: torch.Tensor, what: str, rtol: float, atol: float) -> None:
    expect(tensor.shape == expected.shape, f"{what}: shape {tuple(tensor.shape)}, expected {tuple(expected.shape)}")
    kind = _dtype_kind(expected)
    expect(_dtype_kind(tensor) == kind, f"{what}: {tensor.dtype} values, expected {kind} values")
    if kind in ("integer", "boolean"):
        expect(torch.equal(tensor.to(expected.dtype), expected), f"{what}: values are wrong")
        return
    if kind == "complex":  # compared as the pairs (real, imaginary)
        tensor, expected = torch.view_as_real(tensor.to(torch.complex128)), torch.view_as_real(
            expected.to(torch.complex128))
    a64, e64 = tensor.detach().double(), expected.detach().double()
    finite_a, finite_e = torch.isfinite(a64), torch.isfinite(e64)
    if not bool((finite_a == finite_e).all()):
        raise CheckFailed(f"{what}: the result contains inf or NaN" if not bool(finite_a.all())
                          else f"{what}: finite where inf or NaN is expected")
    _values_close(a64, e64, what, rtol, atol)


def _dtype_kind(tensor: torch.Tensor) -> str:
    if tensor.dtype == torch.bool:
        return "boolean"
    if tensor.is_complex():
        return "complex"
    return "floating point" if tensor.is_floating_point() else "integer"


def one_line(text: str, limit: int = 500) -> str:
    """A message as one line of at most `limit` characters: a student's text (their exception's message, a name
    their code chose) must not start a line of its own in the feedback (a forged "[ok  ] check" line)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _key(key: object) -> str:
    """A dict key as a message may show it: strings and integers (what probes use), cut short; anything else by
    its type only (printing a forged key, a tensor or a tuple nested 50000 deep, takes the grader minutes or fails)."""
    if type(key) is str:
        return repr(key[:40])
    if type(key) is int:
        return str(key) if abs(key) < 10**12 else "a large integer"
    return f"a {type(key).__name__}"


def _keys(data: dict) -> str:
    keys = list(data)
    shown = sorted(_key(key) for key in keys[:10])
    return "[" + ", ".join(shown) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "") + "]"


def _kind(value: object) -> str:
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        return one_line(value.strip("<>"), 60)  # what a probe's plain() reports of a non-tensor the student returned
    return type(value).__name__


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(one_line(value, 60))
    if type(value) is int and abs(value) >= 10**12:
        return "a large integer"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ += ["raised"]
