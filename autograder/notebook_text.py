"""Build a notebook from its jupytext percent-format text source, deterministically.

Conventions in a text source (see CONTRIBUTING.md):

- ``# %% nbgrader={"grade_id": "...", "solution": true}``: nbgrader cell metadata in the cell header. Keys left
  out get nbgrader's defaults (``grade``, ``solution``, ``locked``, ``task`` false; ``schema_version`` 3), so a
  header names only what the cell is.
- ``# %% include="lab/provided/attention.py"``: the cell's code is that file (path from the repository root).
  Code the course provides is written once and pasted by the build, never by hand.
- Cell ids are stable (the ``grade_id`` where there is one, else the cell's position), so a rebuilt notebook is
  byte-identical to the last one when its text did not change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from .paths import ASSIGNMENT, REPO, SOURCE

NBGRADER_DEFAULTS = {"grade": False, "solution": False, "locked": False, "task": False, "schema_version": 3}


class NotebookSourceError(ValueError):
    """A text source breaks one of the conventions above."""


def _fill_nbgrader_metadata(meta: dict, where: str) -> dict:
    filled = {**NBGRADER_DEFAULTS, **meta}
    if "grade_id" not in filled:
        raise NotebookSourceError(f"{where}: an nbgrader cell needs a grade_id")
    if filled["grade"] and "points" not in filled:
        raise NotebookSourceError(f"{where}: graded cell {filled['grade_id']!r} needs points")
    return filled


def build_notebook(text_path: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(text_path)
    nb.metadata.pop("jupytext", None)
    seen_ids: set[str] = set()
    for index, cell in enumerate(nb.cells):
        where = f"{text_path.name}, cell {index}"
        include = cell.metadata.pop("include", None)
        if include is not None:
            if cell.source.strip():
                raise NotebookSourceError(f"{where}: an include cell must be empty in the text source")
            cell.source = (REPO / include).read_text().rstrip("\n")
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"] = _fill_nbgrader_metadata(cell.metadata["nbgrader"], where)
            cell_id = cell.metadata["nbgrader"]["grade_id"]
        else:
            cell_id = f"cell-{index}"
        if cell_id in seen_ids:
            raise NotebookSourceError(f"{where}: duplicate cell id / grade_id {cell_id!r}")
        seen_ids.add(cell_id)
        cell["id"] = cell_id
    nbformat.validate(nb)
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write with nbformat's stable layout (sorted keys, one-space indent, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def solution_cell_code(source: str) -> str:
    """A solution cell as a perfect student leaves it: solution markers removed, their content kept."""
    return "\n".join(line for line in source.splitlines()
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


def reference_answers(notebook: str, assignment: str = ASSIGNMENT) -> dict[str, str]:
    """{grade_id: code} of every solution cell of the instructor's source notebook."""
    nb = build_notebook(SOURCE / assignment / f"{notebook}.py")
    return {cell.metadata["nbgrader"]["grade_id"]: solution_cell_code(cell.source)
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")}


@dataclass(frozen=True)
class RunCell:
    """A code cell of the instructor's source notebook as the notebook runs it before its tests."""
    code: str  # solution markers removed, the instructor's answer kept
    before: tuple[str, ...]  # the code of the cells run before it: the notebook's code cells, test cells left out
    solution: bool

    @property
    def program(self) -> str:
        """The notebook's code up to and including this cell, as one program."""
        return "\n\n".join([*self.before, self.code])


def run_cells(notebook: str, assignment: str = ASSIGNMENT) -> dict[str, RunCell]:
    """{grade_id: RunCell} of every code cell with a grade id that is not a test (solution and read-only cells), in
    the notebook's order: what a variant, a mutant or the reference runs after."""
    cells, before = {}, []
    for cell in build_notebook(SOURCE / assignment / f"{notebook}.py").cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        code = solution_cell_code(cell.source)
        if meta.get("grade_id"):
            cells[meta["grade_id"]] = RunCell(code, tuple(before), bool(meta.get("solution")))
        before.append(code)
    return cells
