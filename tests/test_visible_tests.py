"""The visible tests teach: they pass every correct answer, and the common mistakes fail them with a message that
names the mistake.

A student sees only the visible part of each graded cell (the hidden-test region is gone in release/). These tests
run that visible code, as the student's notebook would (see visible_harness.py), against the answer variants of
tests/variants/: every correct variant and the reference solution must pass every visible test (a visible test
must never stop a correct answer), and each common mistake (the `[caught]` table of the exercise's variants.toml)
must fail the named cell's visible test with a message containing the given words. The hidden checks still decide the grade
(tests/test_checks.py); wrong variants not listed here are left to them.
"""
from __future__ import annotations

import warnings

import pytest
import torch
from check_harness import exercises
from visible_harness import graded_cells_of, solution_cells, visible_results

from autograder.variants import find_variant, variants

# The exercises whose variants the visible tests run on: every exercise, unless its variants.toml says why not.
EXERCISES = [ex for ex in exercises() if "skip_visible_tests" not in ex.declared]
NOTEBOOK_OF = {ex.name: ex.notebook for ex in EXERCISES}

# The common mistakes, declared in each exercise's variants.toml ([caught]): variant -> (the graded cell whose
# visible test must fail, words its message must contain).
CAUGHT = {f"{ex.name}/wrong/{stem}": tuple(value) for ex in EXERCISES
          for stem, value in ex.declared.get("caught", {}).items()}

CORRECT = [variant for exercise in NOTEBOOK_OF for variant in variants(exercise, "correct")]


def _name(variant) -> str:
    return variant.id


def _results(exercise: str, code: str, grade_id: str | None = None) -> dict[str, str | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.set_num_threads(1)  # small tensors: threads only add contention on a loaded machine
        return visible_results(NOTEBOOK_OF[exercise], code, grade_id)


@pytest.mark.parametrize("notebook", sorted(set(NOTEBOOK_OF.values())))
def test_reference_solution_passes_every_visible_test(notebook):
    for cell in solution_cells(notebook):
        exercise = next(e for e, nb in NOTEBOOK_OF.items() if nb == notebook)  # 04: 4a's and 4b's cells alike
        results = _results(exercise, cell.code, cell.grade_id)  # {} for an ungraded exercise (3b)
        assert all(failure is None for failure in results.values()), (cell.grade_id, results)


def test_every_graded_cell_has_a_visible_test_that_can_fail():
    for notebook in sorted(set(NOTEBOOK_OF.values())):
        for cell in solution_cells(notebook):
            for test in graded_cells_of(notebook, cell.grade_id):
                assert "assert" in test.code, f"{notebook}: {test.grade_id} has no visible assert"


@pytest.mark.parametrize("path", CORRECT, ids=_name)
def test_correct_variant_passes_every_visible_test(path):
    exercise = _name(path).split("/")[0]
    results = _results(exercise, path.read_text())
    failed = {cell: failure for cell, failure in results.items() if failure}
    assert not failed, f"a visible test fails a correct answer ({_name(path)}): {failed}"


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_common_mistake_fails_a_visible_test_that_names_it(name):
    cell, words = CAUGHT[name]
    variant = find_variant(name)
    results = _results(name.split("/")[0], variant.code)
    assert cell in results, f"{cell} does not test the cell {name} answers: {sorted(results)}"
    failure = results[cell]
    assert failure, f"the visible tests of {cell} pass this mistake: {variant.mistake}"
    assert failure.startswith("AssertionError"), f"{cell} fails it with an error, not a message: {failure}"
    assert words in failure, f"{cell}'s message does not name the mistake ({words!r}): {failure}"


def test_caught_lists_only_wrong_variants_that_exist():
    for name in CAUGHT:
        assert "/wrong/" in name and find_variant(name) is not None, name
