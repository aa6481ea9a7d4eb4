"""Golden test: the main job grades the bundled example class to exactly the scores class.toml states."""
import csv

import pytest

from autograder import example_class
from autograder.example_class.grade import grade_example_class
from autograder.paths import ASSIGNMENT, assignment_notebook_names


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from conftest import make_course_copy

    scratch = tmp_path_factory.mktemp("graded")
    repo = make_course_copy(scratch / "repo")
    example = scratch / "example_course"
    return example, grade_example_class(repo, example_root=example)


def test_every_student_gets_exactly_the_expected_scores(graded):
    _, result = graded
    scores = result["scores"]
    for student in example_class.load_class():
        for notebook, expected in student.expected.items():
            got = scores.score.get((student.id, notebook))
            assert got == expected, f"{student.id} ({student.about}) {notebook}: got {got}, expected {expected}"
    # and `lab grade` says so itself (the check it prints, and fails on, is this one)
    assert result["golden"] == []


def test_all_or_nothing_grading_gives_the_expected_scores(tmp_path):
    """The other setting of the partial-credit switch: each graded cell scores all or nothing."""
    from conftest import make_course_copy

    students = [s for s in example_class.load_class() if s.expected_all_or_nothing]
    assert students, "class.toml should give all-or-nothing scores for some students"
    repo = make_course_copy(tmp_path / "repo")
    with (repo / "nbgrader_config.py").open("a") as f:
        f.write("\nc.SandboxedExecute.partial_credit = False\n")
    result = grade_example_class(repo, example_root=tmp_path / "example_course", only=[s.id for s in students])
    for student in students:
        assert set(student.expected_all_or_nothing) == set(assignment_notebook_names()), student.id
        for notebook, expected in student.expected_all_or_nothing.items():
            got = result["scores"].score.get((student.id, notebook))
            assert got == expected, f"{student.id} all or nothing, {notebook}: got {got}, expected {expected}"
            assert got < student.expected[notebook] or expected == student.expected[notebook]


def test_grading_writes_grades_feedback_and_report(graded):
    course, result = graded
    students = [s.id for s in example_class.load_class()]
    with (course / "grades.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student_id"] for r in rows) == sorted(students)
    for student in students:
        html = list((course / "feedback" / student / ASSIGNMENT).glob("*.html"))
        assert html, f"no feedback for {student}"
    assert result["outputs"]["png"].stat().st_size > 10_000
    assert all(r.status == "graded" for r in result["results"])


def test_report_names_the_checks_each_mistake_fails(graded):
    course, _ = graded
    with (course / "reports" / "check_failures.csv").open() as f:
        rows = {(r["notebook"], r["check"]): r["students"].split() for r in csv.DictReader(f)}
    assert "carol" in rows[("03_rmsnorm", "eps_inside_square_root")]
    assert "dave" in rows[("03_rmsnorm", "half_precision_large_values")]


def test_regrading_skips_unchanged_submissions(graded):
    from autograder.autograde import autograde_class

    course, _ = graded
    # the example class: graded without the jail where it is unavailable, as grade_example_class did
    results = autograde_class(course, ASSIGNMENT, progress=lambda line: None, allow_unsandboxed=True)
    assert {r.status for r in results} == {"skipped"}


def test_a_hidden_test_edit_or_a_changed_submission_triggers_regrading(tmp_path):
    """The resumability digest covers what decides a grade: a hidden-test edit (only in source/, not in release/)
    and a changed submission each change what is graded again; nothing else does."""
    from conftest import make_course_copy

    from autograder.autograde import grading_inputs_digest, submission_digest

    course = make_course_copy(tmp_path / "course")
    example_class.write_submissions(course, example_class.load_class()[:2], release=course / "release")
    common = grading_inputs_digest(course, ASSIGNMENT)
    before = {s: submission_digest(course, ASSIGNMENT, s, common) for s in ("alice", "bob")}
    source = course / "source" / ASSIGNMENT / "03_rmsnorm.py"
    source.write_text(source.read_text().replace('_checks.GROUPS.run("values", RMSNorm)',
                                                  '_checks.GROUPS.run("dtypes", RMSNorm)'))
    assert grading_inputs_digest(course, ASSIGNMENT) != common, "a hidden-test edit must regrade everyone"
    bob = course / "submitted" / "bob" / ASSIGNMENT / "03_rmsnorm.ipynb"
    bob.write_text(bob.read_text().replace("replace this line with your code", "still nothing"))
    after = {s: submission_digest(course, ASSIGNMENT, s, common) for s in ("alice", "bob")}
    assert after["alice"] == before["alice"] and after["bob"] != before["bob"]


def test_the_summary_says_whether_the_jail_was_used(graded):
    """Where bubblewrap cannot run, the example class (this repository's own code) is graded without the jail, and
    the summary says so with the command that enables it; otherwise it says every notebook ran in the jail."""
    from autograder.example_class.grade import summary
    from autograder.jail import probe

    _, result = graded
    text = summary(result)
    assert result["unsandboxed"] == probe()
    if probe() is None:
        assert "graded in the bubblewrap jail" in text
    else:
        assert "NOT USED" in text and "make system-packages" in text


def test_lab_report_and_missing_act_on_the_course_named(graded, capsys):
    """`lab report` rebuilds the report and the score table from the named course's gradebook; `lab missing` finds
    nothing to add there (every example student submitted every notebook)."""
    from autograder import cli

    course, _ = graded
    png = course / "reports" / "score_report.png"
    png.unlink()
    assert cli.main(["report", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    assert png.stat().st_size > 10_000 and all(s.id in out for s in example_class.load_class())
    assert cli.main(["missing", "--course", str(course)]) == 0
    assert "recorded 0" not in capsys.readouterr().out
