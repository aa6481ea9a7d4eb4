"""The bundled example class: turn class.toml into nbgrader submissions.

Submissions are generated from the current release notebooks (so they never go stale when release/ is
regenerated): a student's answer replaces a solution cell's code, exactly as if typed into the notebook.
A cell answered with UNTOUCHED keeps the release notebook's stub (a part the student did not attempt).
"""
from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..notebook_text import build_notebook
from ..paths import ASSIGNMENT, EXAMPLE_CLASS, RELEASE, SOURCE
from ..variants import HERE as VARIANTS

UNTOUCHED = "release"  # in class.toml, `<grade_id> = "release"`: that cell is left as released


@dataclass
class Student:
    id: str
    about: str
    answers: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    expected_all_or_nothing: dict = field(default_factory=dict)  # with c.SandboxedExecute.partial_credit = False


def load_class(path: Path = EXAMPLE_CLASS / "class.toml") -> list[Student]:
    data = tomllib.loads(path.read_text())
    return [Student(id=sid, **spec) for sid, spec in data["students"].items()]


def solution_cell_code(source: str) -> str:
    """A solution cell as a perfect student leaves it: solution markers removed, their content kept."""
    return "\n".join(line for line in source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def reference_answers(notebook: str, assignment: str = ASSIGNMENT) -> dict[str, str]:
    """{grade_id: code} of every solution cell of the instructor's source notebook."""
    nb = build_notebook(SOURCE / assignment / f"{notebook}.py")
    return {cell.metadata["nbgrader"]["grade_id"]: solution_cell_code(cell.source)
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")}


def notebook_with_code(release_nb: Path, notebook: str, code_for_cell: dict[str, str]) -> nbformat.NotebookNode:
    """The release notebook as a student submits it: every solution cell holds the reference answer, except the
    cells named in code_for_cell (grade_id -> code), which hold that code, or stay as released where it is None."""
    nb = nbformat.read(str(release_nb), as_version=4)
    replacements = reference_answers(notebook)
    unknown = set(code_for_cell) - set(replacements)
    if unknown:
        raise KeyError(f"{notebook}: no solution cell(s) {sorted(unknown)}")
    replacements.update(code_for_cell)
    replacements = {gid: code for gid, code in replacements.items() if code is not None}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements[grade_id]
    return nb


def answered_notebook(release_nb: Path, answers: str | dict, notebook: str) -> nbformat.NotebookNode:
    """answers: "solution", or {grade_id: variant} naming files of autograder/variants/ (or UNTOUCHED)."""
    if answers == "solution":
        return notebook_with_code(release_nb, notebook, {})
    if not isinstance(answers, dict):
        raise ValueError(f"{notebook}: answers must be 'solution' or a table of grade_id = variant")
    return notebook_with_code(release_nb, notebook, {
        gid: None if variant == UNTOUCHED else (VARIANTS / f"{variant}.py").read_text()
        for gid, variant in answers.items()})


def write_submissions(root: Path, students: list[Student] | None = None, assignment: str = ASSIGNMENT,
                      release: Path = RELEASE) -> list[str]:
    """Write submitted/<student>/<assignment>/*.ipynb under root, replacing earlier ones of these students."""
    students = load_class() if students is None else students
    release_dir = release / assignment
    for student in students:
        out = root / "submitted" / student.id / assignment
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for release_nb in sorted(release_dir.glob("*.ipynb")):
            name = release_nb.stem
            if name in student.answers:
                nbformat.write(answered_notebook(release_nb, student.answers[name], name), str(out / release_nb.name))
            else:
                shutil.copyfile(release_nb, out / release_nb.name)
    return [s.id for s in students]
