"""Judging probe data: the registry of an exercise's judges, strict reading of what the kernel sent, comparisons.

Nothing the kernel sent is trusted. A group's data must be exactly what the judges asked for: one entry per probe of
the group (no more, no fewer), and within each, only the keys the probe's judge reads (`Received`): a key the judge
did not expect fails the check, as does a missing one or a value of another type. The judges compute every expected value from
the seed themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from autograder.probing import CheckFailed, CheckGroups, UnknownName, expect, raised

__all__ = ["CheckFailed", "Judges", "Received", "expect", "expect_close", "returned"]


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


@dataclass
class Judges:
    """The judges of one exercise's probes: `JUDGES = Judges(probes.GROUPS)`, then `@JUDGES.judge(probe)` on a
    function `(data, seed) -> None` that raises CheckFailed when the data is not what the seed's inputs give."""

    probes: CheckGroups
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
        return [name for name in self.probes.checks if name not in self.fns]

    def verdict(self, name: str, data: object, seed: int) -> str | None:
        """None when `data` (untrusted) is what check `name` expects for `seed`; otherwise the failure message."""
        if name not in self.fns:
            return "this check has no judge (a fault of the course: tell your instructor)"
        if not isinstance(data, dict):
            return "no data came back for this check (the hidden test did not run to its end)"
        if "error" in data:
            message = data["error"]
            return message[:500] if isinstance(message, str) and len(data) == 1 else "the check failed"
        received = Received(data)
        try:
            self.fns[name](received, seed)
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


__all__ += ["raised"]
