"""How the grader scores a graded cell from the signed verdicts of its hidden checks (autograder/nbgrader_ext/
execute.py), read back with nbgrader's own scoring function: full marks, partial credit, all or nothing, forged or
missing verdicts, and score outputs that the code under test published itself."""
from __future__ import annotations

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder.nbgrader_ext.execute import SandboxedExecute, partial_points
from autograder.protocol import verdict_line, verdict_status

KEY = b"k" * 32
SOURCE = ("### BEGIN HIDDEN TESTS\nfrom autograder.checks import rmsnorm as _checks; "
          "_checks.GROUPS.run(\"values\", RMSNorm)\n### END HIDDEN TESTS\nassert True\n")


def graded_cell(*outputs, points: float = 2) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(SOURCE)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": points}
    cell.outputs = list(outputs)
    return cell


def stdout(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def verdict(passed: int, total: int, key: bytes = KEY, seq: int = 1) -> str:
    return verdict_line(key, seq, "values", verdict_status(passed, total)) + "\n"


def score(cell, partial_credit: bool = True) -> float:
    grader = SandboxedExecute(partial_credit=partial_credit)
    grader._key = KEY
    nb = nbformat.v4.new_notebook(cells=[cell])
    grader._check_verdicts(nb)
    return determine_grade(nb.cells[0])[0]


def test_all_checks_passed_keeps_the_points():
    assert score(graded_cell(stdout("[ok  ] a: x\n" + verdict(5, 5)))) == 2


@pytest.mark.parametrize("passed,expected", [(3, 1.2), (0, 0), (4, 1.6)])
def test_partial_credit_is_proportional_to_checks_passed(passed, expected):
    assert score(graded_cell(stdout(verdict(passed, 5)))) == pytest.approx(expected)


def test_all_or_nothing_when_partial_credit_is_off():
    assert score(graded_cell(stdout(verdict(3, 5))), partial_credit=False) == 0
    assert score(graded_cell(stdout(verdict(5, 5))), partial_credit=False) == 2


def test_an_error_anywhere_in_the_cell_still_scores_zero():
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="visible test", traceback=[])
    assert score(graded_cell(stdout(verdict(5, 5)), error)) == 0
    assert score(graded_cell(stdout(verdict(3, 5)), error)) == 0


@pytest.mark.parametrize("text", [
    "",                                           # the hidden checks never ran (skipped, cell rewritten)
    verdict(5, 5, key=b"x" * 32),                 # signed with another key
    verdict(5, 5).replace("5/5", "9/9"),          # counts changed after signing
    verdict_line(KEY, 1, "values", "failed") + "\n",  # the guard saw tampering
    "[verdict 1 values passed 0123456789abcdef0123456789abcdef]\n",  # the old all-or-nothing format, forged
])
def test_missing_forged_or_failed_verdicts_score_zero(text):
    assert score(graded_cell(stdout("[ok  ] a: x\n" + text))) == 0


def test_a_score_published_by_the_code_under_test_is_not_read():
    """nbgrader reads a cell's first execute_result as its score (non-numbers as full marks): code under test can
    publish one with sys.displayhook. The grader keeps it as display data and writes the score itself."""
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "'full marks please'"}, execution_count=1)
    assert score(graded_cell(forged, stdout(verdict(1, 5)))) == pytest.approx(0.4)
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    assert score(graded_cell(forged, stdout(verdict(0, 5)))) == 0


def test_partial_points_to_a_hundredth_and_below_full_marks():
    assert partial_points(2, 2, 3) == 1.33
    assert partial_points(2, 1, 3) == 0.67
    assert partial_points(3, 1, 3) == 1.0
    assert all(partial_points(points, total - 1, total) < points for points in (1, 2, 4) for total in range(2, 400))
