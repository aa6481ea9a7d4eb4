"""The LMS path: submissions downloaded from an LMS as one zip, collected by `nbgrader zip_collect`, graded by
`lab autograde` in the jail, to the example class's golden scores (the same answers as class.toml's students).

The zip is laid out as Blackboard exports an assignment's submissions (one flat folder, each file named
`<assignment>_<student>_attempt_<time>_<file name>`, plus the LMS's own text file per attempt); the course's
nbgrader_config.py tells nbgrader's FileNameCollectorPlugin how to read those names.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from autograder.build import build_release
from autograder.course import Course
from autograder.example_class import load_class, write_submissions
from autograder.paths import ASSIGNMENT
from conftest import make_course_copy, require_jail

STUDENTS = ("alice", "erin")  # the reference in every notebook; a mistake in each (class.toml)


def nbgrader(course: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_an_lms_zip_is_collected_and_graded_to_the_golden_scores(tmp_path):
    require_jail()
    course = make_course_copy(tmp_path / "course")
    build_release(course)
    students = [s for s in load_class() if s.id in STUDENTS]

    # The LMS's download: every student's notebooks, renamed the LMS's way, in one zip, with its receipts.
    answers = tmp_path / "answers"
    write_submissions(answers, students, release=course / "release")
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "gradebook_transformer_block.zip", "w") as zf:
        for student in students:
            prefix = f"Transformer Block_{student.id}_attempt_2026-12-01-10-00-00"
            for notebook in sorted((answers / "submitted" / student.id / ASSIGNMENT).glob("*.ipynb")):
                zf.write(notebook, f"{prefix}_{notebook.name}")
            zf.writestr(f"{prefix}.txt", f"Name: {student.id}\nSubmission Field: There is no student submission text")

    collected = nbgrader(course, "nbgrader", "zip_collect", ASSIGNMENT)
    for student in students:
        folder = course / "submitted" / student.id / ASSIGNMENT
        got = sorted(p.name for p in folder.iterdir())
        # the notebooks (not the LMS's receipts), and the attempt's time from the file names (late penalties use it)
        expected = sorted([p.name for p in (course / "release" / ASSIGNMENT).glob("*.ipynb")] + ["timestamp.txt"])
        assert got == expected, f"{student.id}: collected {got}\n{collected.stdout[-2000:]}{collected.stderr[-2000:]}"
        assert (folder / "timestamp.txt").read_text().startswith("2026-12-01 10:00:00")

    nbgrader(course, "autograder", "autograde", "--workers", "2", timeout=900)
    nbgrader(course, "nbgrader", "export")
    with Course.load(course).gradebook() as gb:
        for student in students:
            for notebook, expected in student.expected.items():
                score = gb.find_submission_notebook(notebook, ASSIGNMENT, student.id).score
                assert score == expected, f"{student.id} {notebook}: {score}, golden {expected}"
    with open(course / "grades.csv") as f:
        totals = {row["student_id"]: round(float(row["raw_score"]), 2) for row in csv.DictReader(f)}
    assert totals == {s.id: round(sum(s.expected.values()), 2) for s in students}, totals
