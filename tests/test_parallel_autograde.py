"""Parallel grading isolates failures: a submission that kills its kernel or its grader costs only its own grade."""
import os
import signal
import time
from pathlib import Path

import nbformat
import pytest
from conftest import make_course_copy, require_jail

from autograder import example_class
from autograder.build import build_release
from autograder.autograde import autograde_class, grade_all
from autograder.grading import StudentResult, grade_one
from autograder.jail import probe, unsandboxed_config
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
    """A stand-in for grade_one whose worker process dies on one student (as if its code killed the worker)."""
    if student == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.5)
    return StudentResult(student, "graded", 0.5)


def test_a_worker_that_dies_costs_only_its_own_student(tmp_path):
    students = ["a", "b", "killer", "c", "d"]
    results = {r.student: r for r in grade_all(tmp_path, ASSIGNMENT, students, workers=2,
                                               grade=die_for_the_killer)}
    assert sorted(results) == sorted(students)
    assert results["killer"].status == "failed" and "killed the grading process" in results["killer"].detail
    assert all(results[s].status == "graded" for s in students if s != "killer")


def rendezvous_or_die(course_root, assignment, student):
    """A stand-in for grade_one that dies on the killer and, for everyone else, records whether another student
    was being graded at the same moment (each waits, up to a bound, for company while 'grading')."""
    shared = Path(course_root)
    if student == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    running, done = shared / "running", shared / "done"
    (running / student).touch()
    others = len(list((shared / "students").iterdir())) - 1
    met = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(list(done.iterdir())) < others:
        if any(p.name != student for p in running.iterdir()):
            met = True
            break
        time.sleep(0.05)
    time.sleep(0.3)  # stay visible to the one that just arrived
    (running / student).unlink()
    (done / student).touch()
    return StudentResult(student, "graded", 0.0, "met another student" if met else "graded alone")


def test_a_dying_worker_does_not_make_the_run_sequential(tmp_path):
    """After the killer's worker dies the others are still graded two at a time: pairs of students are seen
    grading at the same moment (falling back to one at a time, none would be)."""
    students = ["killer", "a", "b", "c", "d", "e"]
    for name in ("running", "done", "students"):
        (tmp_path / name).mkdir()
    for s in students:
        if s != "killer":
            (tmp_path / "students" / s).touch()
    results = {r.student: r for r in grade_all(tmp_path, ASSIGNMENT, students, workers=2,
                                               grade=rendezvous_or_die)}
    assert sorted(results) == sorted(students)
    assert results["killer"].status == "failed" and "killed the grading process" in results["killer"].detail
    assert "SIGKILL" in results["killer"].detail
    good = [results[s] for s in students if s != "killer"]
    assert all(r.status == "graded" for r in good), good
    met = [r.student for r in good if r.detail == "met another student"]
    assert len(met) >= 2, f"only {met} were graded beside another student: the run fell back to one at a time"


def grade_or_die(course_root, assignment, student):
    """The real grading function, except that the killer's worker dies as its grading starts."""
    if student == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    return grade_one(course_root, assignment, student)


def test_golden_scores_beside_a_submission_that_kills_its_worker(tmp_path):
    """Example-class students (exercise 3 only) graded for real in a pool of two, with a killer submitted first:
    each gets its golden score, the killer alone fails, and the pool only replaced the one worker that died
    (three worker processes in all: falling back to fresh one-worker pools would start one per suspect)."""
    from autograder.course import Course
    from autograder.report import read_scores

    notebook = "03_rmsnorm"
    course = make_course_copy(tmp_path / "course")
    build_release(course)
    golden = {s.id: s for s in example_class.load_class() if s.id in ("alice", "carol", "dave")}
    release_nb = course / "release" / ASSIGNMENT / f"{notebook}.ipynb"
    for student in ["killer", *golden]:
        answers = golden[student].answers.get(notebook, "solution") if student in golden else "solution"
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(example_class.answered_notebook(release_nb, answers, notebook), str(folder / f"{notebook}.ipynb"))
    overrides = None if probe() is None else unsandboxed_config()  # this test is about the pool, not the jail
    results = {r.student: r for r in grade_all(course, ASSIGNMENT, ["killer", *golden], workers=2,
                                               grade=grade_or_die, overrides=overrides)}
    assert results["killer"].status == "failed" and "killed the grading process" in results["killer"].detail
    assert all(results[s].status == "graded" for s in golden), results
    config = Course.load(course)
    scores = read_scores(config.db_url, config.course_id, ASSIGNMENT).score
    for student in golden.values():
        assert scores[(student.id, notebook)] == student.expected[notebook], student.id
    workers = list((course / "autograded" / ".logs").glob("worker-*.log"))
    assert len(workers) == 3, f"{len(workers)} worker processes for a pool of 2 with one death"
