"""Parallel grading isolates failures: a submission that kills its kernel or its grader costs only its own grade."""
import os
import signal
import time

import nbformat
import pytest
from conftest import make_course_copy, require_jail

from autograder import example_class
from autograder.build import build_release
from autograder.autograde import StudentResult, _grade_all, autograde_class
from autograder.paths import ASSIGNMENT

KILL_THE_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)  # outside the sandbox: the grading worker"


def submit(course, student, notebook, code_for_cell):
    """Submit the release notebook with some solution cells replaced (grade_id -> code)."""
    nb = example_class.notebook_with_code(course / "release" / ASSIGNMENT / f"{notebook}.ipynb", notebook,
                                          code_for_cell)
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{notebook}.ipynb"))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course_copy(tmp_path_factory.mktemp("parallel") / "course")
    build_release(course)
    return course


def test_a_submission_that_kills_its_parent_is_graded_and_others_are_unaffected(course):
    """In the sandbox the kernel's parent is the jail, not the grader: the killer's kernel dies, it is graded
    (its later cells score nothing) and the students graded beside it keep their full marks."""
    from autograder.course import Course
    from autograder.report import read_scores

    require_jail()  # without the jail the kernel's parent IS the grading worker

    submit(course, "good1", "03_rmsnorm", {})
    submit(course, "killer", "03_rmsnorm", {"rmsnorm_impl": KILL_THE_PARENT})
    submit(course, "good2", "03_rmsnorm", {})
    results = {r.student: r for r in autograde_class(course, ASSIGNMENT, workers=2, progress=lambda line: None)}
    assert {r.status for r in results.values()} == {"graded"}, results
    config = Course.load(course)
    scores = read_scores(config.db_url, config.course_id, ASSIGNMENT).score
    assert scores[("good1", "03_rmsnorm")] == scores[("good2", "03_rmsnorm")] == 8.0
    assert scores[("killer", "03_rmsnorm")] == 0.0


def die_for_the_killer(course_root, assignment, student):
    """A stand-in for _grade_one whose worker process dies on one student (as if its code killed the worker)."""
    if student == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return StudentResult(student, "graded", 0.5)


def test_a_worker_that_dies_costs_only_its_own_student(tmp_path):
    students = ["a", "b", "killer", "c", "d"]
    results = {r.student: r for r in _grade_all(tmp_path, ASSIGNMENT, students, workers=2,
                                                grade=die_for_the_killer)}
    assert sorted(results) == sorted(students)
    assert results["killer"].status == "failed" and "killed the grading process" in results["killer"].detail
    assert all(results[s].status == "graded" for s in students if s != "killer")
