"""Judging by the reference solution (`Judges(GROUPS, reference=solution(notebook, name))`): a probe without a judge
of its own is run on the instructor's solution with the same seed, and the student's data must be that data.

What a student who has read every file could send instead is refused here, with a message that says what differs:
another answer's outputs, made-up or zero tensors of the right shape, data of another seed, extra or missing
entries, other types that compare equal in Python (True for 1, 1 for 1.0, an integer tensor), NaN. A reference that
cannot run, or fails its own check, is a fault of the course, said so, never the student's.
"""
from __future__ import annotations

import math

import pytest
import torch
from check_harness import Added, Given, Scaled
from torch import nn

from autograder.judging import Judges, Received, ReferenceFailed, same_data, solution
from autograder.probing import CheckFailed, CheckGroups, plain
from autograder.reference import ReferenceUnavailable
from autograder.wire import roundtrip

SEED = 12345


def drawn(seed: int, stream: int, shape: tuple) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1000 + stream))


GROUPS = CheckGroups(name="scaled")


@GROUPS.probe("values")
def outputs(cls, seed: int) -> dict:
    """outputs for seeded weights and inputs"""
    module = cls(4)
    with torch.no_grad():
        module.weight.copy_(drawn(seed, 1, (4,)))
    x = drawn(seed, 2, (3, 4)).requires_grad_()
    y = module(x)
    y.sum().backward()
    return {"y": plain(y), "grad": [plain(x.grad)], "count": 2, "ok": True, "mean": float(y.detach().mean())}


class ScaledOtherStyle(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.full((d,), 1.0))

    def forward(self, x):
        return torch.einsum("...d,d->...d", x, self.weight)


def judges(*objects, **kwargs) -> Judges:
    return Judges(GROUPS, reference=Given("demo", ("Scaled",), given=objects), **kwargs)


def data_of(cls, seed: int = SEED) -> dict:
    return roundtrip(GROUPS.checks["outputs"].run_probe((cls,), seed))


def test_the_reference_and_another_correct_style_pass():
    assert judges(Scaled).verdict("outputs", data_of(Scaled), SEED) is None
    assert judges(Scaled).verdict("outputs", data_of(ScaledOtherStyle), SEED) is None
    assert judges(Scaled).missing() == []  # every probe has its judge: the reference


def test_a_wrong_answer_fails_and_the_message_names_the_entry():
    message = judges(Scaled).verdict("outputs", data_of(Added), SEED)
    assert message and message.startswith("y: values are wrong"), message


def test_data_of_another_seed_or_made_up_fails():
    assert "values are wrong" in judges(Scaled).verdict("outputs", data_of(Scaled, SEED + 1), SEED)
    forged = data_of(Scaled)
    forged["y"] = torch.zeros_like(forged["y"])
    assert "y: values are wrong" in judges(Scaled).verdict("outputs", forged, SEED)


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(extra=1), "entries"),
    (lambda d: d.pop("mean"), "entries"),
    (lambda d: d.update(grad=[]), "grad: 0 items, expected 1"),
    (lambda d: d.update(grad="no"), "grad: expected a list"),
    (lambda d: d.update(y="<NoneType>"), "y: expected a tensor, got NoneType"),
    (lambda d: d.update(y=d["y"][:2]), "y: shape (2, 4), expected (3, 4)"),
    (lambda d: d.update(y=d["y"].round().long()), "floating point"),
    (lambda d: d.update(y=torch.full_like(d["y"], math.nan)), "inf or NaN"),
    (lambda d: d.update(count=2.0), "count: expected int, got float"),
    (lambda d: d.update(count=True), "count: expected int, got bool"),
    (lambda d: d.update(ok=1), "ok: expected bool, got int"),
    (lambda d: d.update(mean=d["mean"] + 1.0), "mean:"),
    (lambda d: d.update(mean=math.nan), "mean:"),
], ids=["extra entry", "missing entry", "short list", "not a list", "not a tensor", "wrong shape", "integer tensor",
        "nan", "float for int", "bool for int", "int for bool", "wrong number", "nan number"])
def test_forged_data_fails_with_a_message(change, words):
    data = data_of(Scaled)
    change(data)
    message = judges(Scaled).verdict("outputs", data, SEED)
    assert message and words in message, message


def test_the_tolerance_is_the_judges():
    data = data_of(Scaled)
    data["y"] = data["y"] * (1 + 1e-3)
    assert judges(Scaled).verdict("outputs", data, SEED) is not None
    assert judges(Scaled, rtol=1e-2, atol=1e-3).verdict("outputs", data, SEED) is None


def test_a_written_judge_replaces_the_comparison_for_its_probe():
    own = judges(Scaled)

    @own.judge(outputs)
    def _(data, seed):
        raise CheckFailed("the judge's own message")

    assert own.verdict("outputs", data_of(Scaled), SEED) == "the judge's own message"


def test_a_reference_that_fails_or_cannot_run_is_the_course_s_fault():
    class Broken(Scaled):
        def forward(self, x):
            raise RuntimeError("oops")

    message = judges(Broken).verdict("outputs", data_of(Scaled), SEED)
    assert "fault of the course" in message and "fails this check" in message
    missing = Judges(GROUPS, reference=solution("03_rmsnorm", "NoSuchClass"))
    message = missing.verdict("outputs", data_of(Scaled), SEED)
    assert "fault of the course" in message and "defines no NoSuchClass" in message
    with pytest.raises(ReferenceFailed):
        missing.expected("outputs", SEED)


def test_solution_runs_the_source_notebook():
    (rmsnorm,) = solution("03_rmsnorm", "RMSNorm").objects()
    x = torch.randn(2, 8)
    y = rmsnorm(8)(x)
    assert torch.allclose(y, x / x.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt(), atol=1e-6)
    with pytest.raises(ReferenceUnavailable, match="no_such_notebook"):
        solution("no_such_notebook", "X").objects()
    with pytest.raises(ValueError, match="name what"):
        solution("03_rmsnorm")


def test_same_data_reads_every_entry():
    """The judge's strict reading (autograder.judging.Received) sees every entry read: nothing extra goes unnoticed."""
    expected = {"a": [torch.ones(2)], "b": "ValueError"}
    received = Received({"a": [torch.ones(2)], "b": "ValueError"})
    same_data(received, expected, "", 1e-4, 1e-5)
    assert received.unread() == []
    with pytest.raises(CheckFailed, match="^b: 'KeyError' is wrong$"):  # the reference's value is not shown
        same_data({"a": [torch.ones(2)], "b": "KeyError"}, expected, "", 1e-4, 1e-5)
