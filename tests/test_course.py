"""Commands act on the course they are run in: its folder, and what its nbgrader_config.py says (read once)."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import use_gradebook

from autograder.build import build_release
from autograder.course import Course, NotACourse
from autograder.grading import failure_reason
from autograder.jail.limits import KernelLimits
from autograder.nbgrader_ext.execute import SandboxedExecute
from autograder.paths import ASSIGNMENT, REPO


def test_a_course_copy_is_its_own_course(course_copy):
    course = Course.load(course_copy)
    assert course.root == course_copy.resolve()
    assert course.assignment == ASSIGNMENT and course.course_id == "transformer-block-lab"
    assert course.sqlite_file == course_copy.resolve() / "gradebook.db"
    assert SandboxedExecute(config=course.config).limits == KernelLimits()


def test_the_configured_gradebook_and_limits_are_used(course_copy):
    use_gradebook(course_copy, "postgresql+psycopg2://grader@db.example/course")
    with (course_copy / "nbgrader_config.py").open("a") as f:
        f.write("\nc.SandboxedExecute.memory_mb = 2048\nc.CourseDirectory.course_id = 'other-course'\n")
    course = Course.load(course_copy)
    assert course.db_url == "postgresql+psycopg2://grader@db.example/course" and course.sqlite_file is None
    assert course.course_id == "other-course"
    limits = SandboxedExecute(config=course.config).limits  # the settings, as the grading kernels get them
    assert limits == KernelLimits(memory_mb=2048)
    assert limits.kernel_env()["AG_SB_MEMORY_MB"] == "2048"
    assert KernelLimits.from_env(limits.kernel_env()) == limits


def test_a_folder_without_nbgrader_config_is_not_a_course(tmp_path):
    with pytest.raises(NotACourse, match="no nbgrader_config.py"):
        Course.load(tmp_path)
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde"], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 2 and "not an nbgrader course root" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_reason_of_a_failure_is_the_exception_line():
    log = ("[INFO] Sanitizing\n[ERROR] There was an error processing assignment: /c/submitted/alice/a\n"
           "[ERROR] Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    g()\n"
           "ValueError: the first\n\nDuring handling of the above exception, another exception occurred:\n\n"
           "Traceback (most recent call last):\n  File \"y.py\", line 2, in h\n"
           "autograder.jail.SandboxUnavailable: REFUSING TO GRADE: no bwrap\n")
    assert failure_reason(log) == "autograder.jail.SandboxUnavailable: REFUSING TO GRADE: no bwrap"
    # as nbgrader's API logs it: the traceback indented by 4, then more records
    indented = ("[ERROR] There was an error processing assignment: /c/submitted/alice/a\n"
                "[ERROR] Traceback (most recent call last):\n      File \"x.py\", line 1, in f\n        g()\n"
                "        ^^^\n    nbclient.exceptions.DeadKernelError: Kernel died\n    \n"
                "[WARNING] Removing failed assignment: /c/autograded/alice/a\n"
                "[ERROR] There was an error processing assignment 'a' for student 'alice'\n")
    assert failure_reason(indented) == "nbclient.exceptions.DeadKernelError: Kernel died"
    assert failure_reason("[ERROR] No notebooks found\n") == "[ERROR] No notebooks found"


def _path_without_bwrap() -> str:
    """PATH with the virtual environment's bin/ only: bwrap cannot be found, as on a machine without it."""
    return str(Path(sys.executable).parent)


def test_a_real_class_stops_before_grading_when_the_jail_is_unavailable(course_copy):
    """One message naming the reason and the fix, exit status 2, nobody marked graded or failed."""
    for student in ("alice", "bob"):
        folder = course_copy / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for nb in (course_copy / "release" / ASSIGNMENT).glob("*.ipynb"):
            (folder / nb.name).write_bytes(nb.read_bytes())
    env = dict(os.environ, PATH=_path_without_bwrap())
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde"], cwd=course_copy, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "REFUSING TO GRADE" in line]
    assert len(errors) == 1 and "bubblewrap" in errors[0] and "make system-packages" in errors[0], output
    assert "Nothing was graded" in output
    assert not (course_copy / "autograded").exists(), "a student was graded or marked failed"
    assert not (course_copy / "gradebook.db").exists(), "the gradebook was touched"


def test_autograde_grades_the_course_it_is_run_in(course_copy):
    """Run in a copy of the course elsewhere, with its own submitted/: that folder and its own gradebook are graded
    (a submission without the assignment's notebook gets its zeros there), the repository's are not touched."""
    build_release(course_copy)
    folder = course_copy / "submitted" / "ghost" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("I forgot the notebooks")
    repo_gradebook = (REPO / "gradebook.db").stat().st_mtime if (REPO / "gradebook.db").exists() else None
    # --unsandboxed: no kernel starts, nothing to jail
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde", "--unsandboxed"], cwd=course_copy,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    with Course.load(course_copy).gradebook() as gb:
        submission = gb.find_submission(ASSIGNMENT, "ghost")
        assert submission.notebooks and all(g.auto_score == 0 for nb in submission.notebooks for g in nb.grades)
    graded = course_copy / "autograded" / "ghost" / ASSIGNMENT
    notebooks = sorted(p.name for p in graded.glob("*.ipynb"))
    assert notebooks and "No notebook named" in nbformat.read(graded / notebooks[0], as_version=4).cells[0].source
    now = (REPO / "gradebook.db").stat().st_mtime if (REPO / "gradebook.db").exists() else None
    assert now == repo_gradebook, "the repository's gradebook was written"


def test_every_student_failed_is_a_message_and_exit_1_without_a_traceback(course_copy, monkeypatch, caplog, capsys):
    """`lab grade` when no student could be graded: what happened, exit status 1, no Python traceback."""
    from autograder import cli
    from autograder.example_class import grade
    from autograder.grading import StudentResult

    monkeypatch.setattr(grade, "prepare_example_course", lambda root, course: course)
    monkeypatch.setattr(grade, "write_submissions", lambda root, roster, **kw: [s.id for s in roster])
    monkeypatch.setattr(grade, "autograde_class", lambda course, students, **kw: [
        StudentResult(s, "failed", 0.1, "nbclient.exceptions.DeadKernelError: Kernel died") for s in students])
    assert cli.main(["grade", "--course", str(course_copy)]) == 1
    said = caplog.text + capsys.readouterr().err
    assert "grading failed for every student" in said and "alice: nbclient.exceptions.DeadKernelError" in said
    assert "Traceback" not in said
