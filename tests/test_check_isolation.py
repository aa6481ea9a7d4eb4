"""No hidden check changes what the student's notebook sees afterwards: the global random streams (torch, Python,
NumPy), torch's thread count and grad mode are the same before and after every check group, as each graded cell
of every notebook runs it on the instructor's solution."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from check_harness import reference_namespace

from autograder.probing import isolated_state
from autograder.notebook_text import build_notebook
from autograder.paths import ASSIGNMENT, SOURCE

HIDDEN_CALL = "_checks.GROUPS.run("


def hidden_test_lines() -> list[tuple[str, str, str]]:
    """(notebook, grade id of the last cell before it, hidden-test line) for every hidden check group call."""
    found = []
    for path in sorted((SOURCE / ASSIGNMENT).glob("[0-9]*.py")):
        last_code_cell = None
        for cell in build_notebook(path).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            if not meta.get("grade"):
                last_code_cell = meta.get("grade_id", last_code_cell)
            for line in cell.source.splitlines():
                if HIDDEN_CALL in line and last_code_cell:
                    found.append((path.stem, last_code_cell, line.strip()))
    return found


def global_state() -> tuple:
    return (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy(), torch.get_num_threads(),
            torch.is_grad_enabled())


def assert_same_state(before: tuple, after: tuple, what: str) -> None:
    assert torch.equal(before[0], after[0]), f"{what} changed torch's global random state"
    assert before[1] == after[1], f"{what} changed Python's random state"
    assert np.array_equal(before[2], after[2]), f"{what} changed NumPy's random state"
    assert before[3] == after[3], f"{what} changed torch's thread count ({before[3]} -> {after[3]})"
    assert before[4] == after[4], f"{what} changed torch's grad mode"


CALLS = hidden_test_lines()


def test_every_notebook_has_hidden_checks():
    assert {nb for nb, _, _ in CALLS} == {p.stem for p in (SOURCE / ASSIGNMENT).glob("[0-9]*.py")}


@pytest.mark.parametrize("notebook,upto,line", CALLS,
                         ids=[f"{nb}:{line.split(HIDDEN_CALL, 1)[1].split(',')[0]}" for nb, _, line in CALLS])
def test_check_group_leaves_global_state_unchanged(notebook, upto, line):
    namespace = dict(reference_namespace(notebook, upto))
    torch.manual_seed(1234)
    random.seed(1234)
    np.random.seed(1234)
    before = global_state()
    exec(compile(line, f"{notebook} hidden test", "exec"), namespace)
    assert_same_state(before, global_state(), line)


def test_isolation_restores_what_a_check_changes():
    """The mechanism itself: a check that seeds, draws, changes threads and grad mode leaves no trace."""
    before = global_state()
    with isolated_state():
        torch.manual_seed(0)
        torch.randn(3)
        random.random()
        np.random.rand()
        torch.set_num_threads(max(1, before[3] + 1))
        torch.set_grad_enabled(not before[4])
    assert_same_state(before, global_state(), "isolated_state")
