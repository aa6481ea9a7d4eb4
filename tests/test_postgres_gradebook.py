"""Grading into a real PostgreSQL gradebook gives the same scores as SQLite (the golden scores)."""
import subprocess
import sys

import pytest
from conftest import make_course_copy, use_gradebook

from autograder import example_class
from autograder.example_class.grade import grade_example_class

STUDENTS = ["alice", "bob", "carol"]  # a subset keeps the test short; the golden test covers everyone on SQLite


@pytest.fixture(scope="module")
def postgres_url(postgres):
    return postgres("gradebook")


def test_postgres_gradebook_matches_the_golden_scores(postgres_url, tmp_path):
    repo = make_course_copy(tmp_path / "repo")
    use_gradebook(repo, postgres_url)  # the example course is built with this course's config
    example = tmp_path / "example_course"
    result = grade_example_class(repo, example_root=example, only=STUDENTS)
    assert not (example / "gradebook.db").exists(), "grading wrote to SQLite instead of PostgreSQL"
    assert all(r.status == "graded" for r in result["results"])
    for student in example_class.load_class():
        if student.id in STUDENTS:
            for notebook, expected in student.expected.items():
                assert result["scores"].score[(student.id, notebook)] == expected, (student.id, notebook)


def test_missing_notebook_zeros_land_in_the_configured_postgres_gradebook(postgres, tmp_path):
    """`lab autograde` run in a course whose gradebook is PostgreSQL (c.CourseDirectory.db_url): a submission without the
    assignment's notebooks gets its zeros there, under the course's id, and no SQLite file appears."""
    from nbgrader.api import Gradebook

    from autograder.build import build_release
    from autograder.course import Course
    from autograder.paths import ASSIGNMENT, assignment_notebook_names

    url = postgres("zeros")
    course = make_course_copy(tmp_path / "course")
    use_gradebook(course, url)
    build_release(course)  # records the assignment in PostgreSQL
    folder = course / "submitted" / "ghost" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("I forgot the notebooks")
    # --unsandboxed: no kernel starts, nothing to jail
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde", "--unsandboxed"], cwd=course,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (course / "gradebook.db").exists(), "zeros written to SQLite instead of PostgreSQL"
    with Gradebook(url, Course.load(course).course_id) as gb:
        submission = gb.find_submission(ASSIGNMENT, "ghost")
        assert sorted(nb.name for nb in submission.notebooks) == assignment_notebook_names()
        assert all(g.auto_score == 0 for nb in submission.notebooks for g in nb.grades if g.cell_type == "code")
