"""The bundled example class: turn class.toml into nbgrader submissions.

Submissions are generated from the current release notebooks (so they never go stale when release/ is
regenerated): a student's answer replaces a solution cell's code, exactly as if typed into the notebook.
A cell answered with UNTOUCHED keeps the release notebook's stub (a part the student did not attempt).
"""
from __future__ import annotations

import difflib
import shutil
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import import_module
from pathlib import Path

import nbformat

from ..notebook_text import build_notebook, reference_answers
from ..paths import ASSIGNMENT, EXAMPLE_CLASS, RELEASE, SOURCE
from ..variants import all_variant_ids, find_variant
from ..protocol import HIDDEN_TEST_LINE

UNTOUCHED = "release"  # in class.toml, `<grade_id> = "release"`: that cell is left as released


class ClassFileError(ValueError):
    """class.toml names something that does not exist, or a score grading cannot give: the message names each."""


def did_you_mean(name: str, existing) -> str:
    """'; did you mean X?' for the closest of `existing`, and the list of what exists."""
    existing = sorted(existing)
    close = difflib.get_close_matches(name, existing, n=1)
    return (f"; did you mean {close[0]!r}?" if close else "") + f" (there are: {', '.join(existing) or 'none'})"


@dataclass
class Student:
    id: str
    about: str
    answers: dict = field(default_factory=dict)
    expected: dict = field(default_factory=dict)
    expected_all_or_nothing: dict = field(default_factory=dict)  # with c.SandboxedExecute.partial_credit = False


def load_class(path: Path = EXAMPLE_CLASS) -> list[Student]:
    data = tomllib.loads(path.read_text())
    students = []
    for sid, spec in data["students"].items():
        unknown = set(spec) - {"about", "answers", "expected", "expected_all_or_nothing"}
        if unknown:
            raise ClassFileError(f"{path.name}, student {sid}: unknown key(s) {sorted(unknown)}"
                                 f"{did_you_mean(sorted(unknown)[0], ['about', 'answers', 'expected', 'expected_all_or_nothing'])}")
        students.append(Student(id=sid, **spec))
    return students


@dataclass(frozen=True)
class GradedCell:
    grade_id: str
    points: float
    checks: int | None  # how many checks its hidden-test line runs (None: no hidden test, visible asserts only)


@lru_cache(maxsize=None)
def graded_cells(notebook: str, assignment: str = ASSIGNMENT) -> tuple[GradedCell, ...]:
    """The automatically graded cells of a source notebook (manually graded answers excluded)."""
    cells = []
    for cell in build_notebook(SOURCE / assignment / f"{notebook}.py").cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        runs = list(HIDDEN_TEST_LINE.finditer(cell.source))
        checks = sum(len(import_module(f"{r['package']}.checks.{r['module']}").GROUPS.names(r["group"]))
                     for r in runs) if runs else None
        cells.append(GradedCell(meta["grade_id"], float(meta["points"]), checks))
    return tuple(cells)


def reachable_scores(notebook: str, partial_credit: bool = True) -> set[float]:
    """Every score grading can give a notebook: each cell scores points x passed/checks, rounded to a hundredth and
    below full points unless every check passed (autograder/nbgrader_ext/execute.py), or all or nothing."""
    sums = {0.0}
    for cell in graded_cells(notebook):
        n = cell.checks if cell.checks and partial_credit else 1
        options = {min(round(cell.points * k / n, 2), round(cell.points - 0.01, 2)) if k < n else cell.points
                   for k in range(n + 1)}
        sums = {round(s + o, 2) for s in sums for o in options}
    return sums


def class_file_problems(students: list[Student], assignment: str = ASSIGNMENT) -> list[str]:
    """What in class.toml does not match the course: notebooks, grade ids, variant files, scores grading cannot
    give. Each problem names the typo and what exists."""
    notebooks = sorted(p.stem for p in (SOURCE / assignment).glob("[0-9]*.py"))
    problems = []
    for student in students:
        where = f"class.toml, student {student.id}"
        for table in ("answers", "expected", "expected_all_or_nothing"):
            for name in getattr(student, table):
                if name not in notebooks:
                    problems.append(f"{where}, {table}: no notebook {name!r}{did_you_mean(name, notebooks)}")
        missing = set(notebooks) - set(student.expected)
        if missing:
            problems.append(f"{where}: no expected score for {sorted(missing)} (list every notebook; an untouched "
                            "one scores 0.0)")
        for name, answers in student.answers.items():
            if name not in notebooks or answers == "solution":
                continue
            if not isinstance(answers, dict):
                problems.append(f"{where}, {name}: answers must be \"solution\" or a table {{ grade_id = \"variant\" }}")
                continue
            cells = reference_answers(name, assignment)
            for grade_id, variant in answers.items():
                if grade_id not in cells:
                    problems.append(f"{where}, {name}: no solution cell {grade_id!r}{did_you_mean(grade_id, cells)}")
                if variant != UNTOUCHED and find_variant(variant) is None:
                    existing = all_variant_ids()
                    problems.append(f"{where}, {name}.{grade_id}: no variant {variant!r} "
                                    f"(tests/variants/{variant}.py){did_you_mean(variant, existing)}")
        for table, partial in (("expected", True), ("expected_all_or_nothing", False)):
            for name, score in getattr(student, table).items():
                if name in notebooks and round(float(score), 2) not in reachable_scores(name, partial):
                    near = sorted(reachable_scores(name, partial), key=lambda s: abs(s - score))[:3]
                    problems.append(f"{where}, {table}: {name} = {score} is a score grading cannot give "
                                    f"(the closest it can: {near}; maximum {sum(c.points for c in graded_cells(name))})")
    return problems


def check_class_file(students: list[Student], assignment: str = ASSIGNMENT) -> None:
    problems = class_file_problems(students, assignment)
    if problems:
        raise ClassFileError("lab/example_class.toml does not match the course:\n- " + "\n- ".join(problems))


def notebook_with_code(release_nb: Path, notebook: str, code_for_cell: dict[str, str]) -> nbformat.NotebookNode:
    """The release notebook as a student submits it: every solution cell holds the reference answer, except the
    cells named in code_for_cell (grade_id -> code), which hold that code, or stay as released where it is None."""
    nb = nbformat.read(str(release_nb), as_version=4)
    replacements = reference_answers(notebook)
    unknown = set(code_for_cell) - set(replacements)
    if unknown:
        raise ClassFileError(f"{notebook}: no solution cell(s) {sorted(unknown)}"
                             f"{did_you_mean(sorted(unknown)[0], replacements)}")
    replacements.update(code_for_cell)
    replacements = {gid: code for gid, code in replacements.items() if code is not None}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements[grade_id]
    return nb


def answered_notebook(release_nb: Path, answers: str | dict, notebook: str) -> nbformat.NotebookNode:
    """answers: "solution", or {grade_id: variant} naming variants of tests/variants/ (or UNTOUCHED)."""
    if answers == "solution":
        return notebook_with_code(release_nb, notebook, {})
    if not isinstance(answers, dict):
        raise ValueError(f"{notebook}: answers must be 'solution' or a table of grade_id = variant")
    code = {}
    for gid, variant in answers.items():
        found = None if variant == UNTOUCHED else find_variant(variant)
        if variant != UNTOUCHED and found is None:
            raise ClassFileError(f"{notebook}.{gid}: no variant {variant!r} (a file tests/variants/{variant}.py or a "
                                 f"mutant of variants.toml){did_you_mean(variant, all_variant_ids())}")
        code[gid] = None if found is None else found.code
    return notebook_with_code(release_nb, notebook, code)


def write_submissions(root: Path, students: list[Student] | None = None, assignment: str = ASSIGNMENT,
                      release: Path = RELEASE) -> list[str]:
    """Write submitted/<student>/<assignment>/*.ipynb under root, replacing earlier ones of these students."""
    students = load_class() if students is None else students
    check_class_file(students, assignment)  # a typo fails here, before any notebook is written or graded
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
