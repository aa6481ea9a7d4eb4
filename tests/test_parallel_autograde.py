"""Parallel grading isolates failures: a submission that kills its grader costs only its own grade."""
import nbformat
import pytest
from conftest import make_course_copy

from autograder import example_class
from autograder.build import build_release
from autograder.parallel_autograde import autograde_class
from autograder.paths import ASSIGNMENT

KILL_THE_GRADER = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)  # the kernel's parent: the grading worker"


def submit(course, student, notebook, code_for_cell):
    """Submit the release notebook with some solution cells replaced (grade_id -> code)."""
    nb = nbformat.read(str(course / "release" / ASSIGNMENT / f"{notebook}.ipynb"), as_version=4)
    answers = {**example_class.reference_answers(notebook), **code_for_cell}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course_copy(tmp_path_factory.mktemp("parallel") / "course")
    build_release(course)
    return course


def test_a_submission_that_kills_its_grader_fails_alone(course):
    submit(course, "good1", "03_rmsnorm", {})
    submit(course, "killer", "03_rmsnorm", {"rmsnorm_impl": KILL_THE_GRADER})
    submit(course, "good2", "03_rmsnorm", {})
    results = {r.student: r for r in autograde_class(course, ASSIGNMENT, workers=2, progress=lambda line: None)}
    assert results["good1"].status == results["good2"].status == "graded"
    assert results["killer"].status == "failed"
    assert "killed the grading process" in results["killer"].detail
    manifest = (course / "autograded" / ".grading-manifest.json").read_text()
    assert "killer" not in manifest, "a failed student must be graded again on the next run"
