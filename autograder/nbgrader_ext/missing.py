"""Submissions without the expected notebook: a grade of 0 and feedback that says so.

nbgrader skips a submission folder with no notebook in it (no grade at all) and fails one whose notebooks all have
other names ("No notebooks found"); either way the student gets neither a grade nor a reason. Run after
`nbgrader autograde`: `lab missing` (in the course root, or with --course DIR; `lab autograde` does it after
grading). For each
submitted/<student>/<assignment>/ that lacks a notebook of the assignment and has no graded copy of it, it records 0
for that notebook's grades and writes autograded/<student>/<assignment>/<notebook>.ipynb: the release notebook with a
first cell naming what was expected and what was found, which `nbgrader generate_feedback` turns into feedback.
The submitted folder is only read. The zeros go to the course's configured gradebook (its db_url and course id).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from ..course import Course


def record_missing(course: "Course") -> list[tuple[str, str]]:
    """(student, notebook) for each notebook recorded as missing, now with a 0 and feedback."""
    course_root, assignment = course.root, course.assignment
    done = []
    with course.gradebook() as gb:
        expected = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        for folder in sorted((course_root / "submitted").glob(f"*/{assignment}")):
            student = folder.parent.name
            found = sorted(p.name for p in folder.iterdir() if p.is_file())
            for name in expected:
                if (folder / f"{name}.ipynb").exists():
                    continue
                graded = course_root / "autograded" / student / assignment / f"{name}.ipynb"
                if graded.exists():
                    continue
                if not any(s.id == student for s in gb.students):
                    gb.add_student(student)
                submission = gb.update_or_create_submission(assignment, student)
                for grade in gb.find_submission_notebook(name, assignment, student).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()
                release = course_root / "release" / assignment / f"{name}.ipynb"
                nb = nbformat.read(str(release), as_version=4)
                nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                    f"**No notebook named `{name}.ipynb` was found in your submission**, so it scores 0. Found: "
                    f"{', '.join(f'`{f}`' for f in found) or 'nothing'}. If you saved it under another name, "
                    "rename it and submit again (or ask your instructor)."))
                graded.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, str(graded))
                done.append((student, name))
                del submission
    return done

