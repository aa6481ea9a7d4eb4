"""Run a notebook's VISIBLE tests (what a student sees and runs) against an answer variant, as the student would.

A student's run of a notebook is: every code cell in order, the student's answer in one solution cell, the
release's test cells (the hidden-test region is gone there). `visible_results` does the same from the instructor's
text source: the cells before the answered solution cell run once per notebook with the reference answers (and
`NBGRADER_EXECUTION` set, as while validating, so the slow demonstrations are skipped), then, for each variant,
the answer and the cells that test it: the read-only (locked) cells and the graded cells up to the next solution
cell, each graded cell with its hidden-test region removed. Unlocked demonstration cells after the answer (plots)
are not run: tests never depend on them (CONTRIBUTING.md: test fixtures live in locked cells).
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from autograder.notebook_text import solution_cell_code  # noqa: E402
from autograder.notebook_text import build_notebook  # noqa: E402
from autograder.paths import ASSIGNMENT, SOURCE  # noqa: E402

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def visible_code(test_cell_source: str) -> str:
    """A graded cell as the release shows it: the hidden-test region removed."""
    return HIDDEN.sub("", test_cell_source)


def defined_names(code: str) -> set[str]:
    """The top-level functions and classes a cell defines."""
    return {node.name for node in ast.parse(code).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


@dataclass(frozen=True)
class Cell:
    index: int
    kind: str  # "solution", "test", "locked", "other"
    grade_id: str | None
    code: str


@lru_cache(maxsize=None)
def notebook_cells(notebook: str) -> tuple[Cell, ...]:
    cells = []
    for index, cell in enumerate(build_notebook(SOURCE / ASSIGNMENT / f"{notebook}.py").cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            kind, code = "solution", solution_cell_code(cell.source)
        elif meta.get("grade"):
            kind, code = "test", visible_code(cell.source)
        elif meta.get("locked"):
            kind, code = "locked", cell.source
        else:
            kind, code = "other", cell.source
        cells.append(Cell(index, kind, meta.get("grade_id"), code))
    return tuple(cells)


def solution_cells(notebook: str) -> list[Cell]:
    return [c for c in notebook_cells(notebook) if c.kind == "solution"]


def answered_cell(notebook: str, variant_code: str) -> str:
    """The grade_id of the solution cell a variant answers: the one that defines the same names."""
    names = defined_names(variant_code)
    matches = [c.grade_id for c in solution_cells(notebook) if names & defined_names(c.code)]
    assert len(matches) == 1, f"a variant defining {sorted(names)} matches the solution cells {matches}"
    return matches[0]


def graded_cells_of(notebook: str, grade_id: str) -> list[Cell]:
    """The graded cells that test one solution cell: those after it, up to the next solution cell."""
    cells = notebook_cells(notebook)
    start = next(i for i, c in enumerate(cells) if c.grade_id == grade_id)
    tests = []
    for cell in cells[start + 1:]:
        if cell.kind == "solution":
            break
        if cell.kind == "test":
            tests.append(cell)
    return tests


@contextlib.contextmanager
def as_while_validating():
    """NBGRADER_EXECUTION set (the notebooks skip their timings), plots not shown, torch's RNG, thread count and grad
    mode restored afterwards, and Python's warning settings (the notebooks' warnings cell prints warnings as output
    while validating: warnings.showwarning is put back for the rest of the tests)."""
    old_env = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    try:
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            yield
    finally:
        torch.set_num_threads(threads)
        # a wrong answer may switch gradients off for good (kv_cache/wrong/gradients_left_off): not for later tests
        torch.set_grad_enabled(grad)
        if old_env is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old_env
        import matplotlib.pyplot as plt

        plt.close("all")


def _run(code: str, namespace: dict, name: str) -> None:
    exec(compile(code, name, "exec"), namespace)


@lru_cache(maxsize=None)
def _prefix(notebook: str, grade_id: str) -> dict:
    """The namespace a student's kernel has just before running solution cell `grade_id`, every earlier solution
    cell answered with the reference: every earlier code cell run, except the graded ones (tests define nothing
    later cells use)."""
    namespace: dict = {"__name__": "__main__"}
    with as_while_validating():
        for cell in notebook_cells(notebook):
            if cell.grade_id == grade_id:
                return namespace
            if cell.kind != "test":
                _run(cell.code, namespace, f"{notebook} cell {cell.index}")
    raise KeyError(f"{notebook} has no solution cell {grade_id!r}")


def visible_results(notebook: str, answer: str, grade_id: str | None = None) -> dict[str, str | None]:
    """{test cell grade_id: None if its visible tests passed, else the failure ('AssertionError: message')} for
    the graded cells that test the solution cell `answer` fills (found by the names it defines, or `grade_id`)."""
    grade_id = grade_id or answered_cell(notebook, answer)
    namespace = dict(_prefix(notebook, grade_id))
    results: dict[str, str | None] = {}
    with as_while_validating():
        torch.manual_seed(0)
        try:
            _run(answer, namespace, f"{notebook} answer to {grade_id}")
        except Exception as exc:  # a broken answer: every test cell after it fails (NameError or worse)
            return {c.grade_id: f"the answer cell raised {type(exc).__name__}: {exc}"
                    for c in graded_cells_of(notebook, grade_id)}
        start = next(i for i, c in enumerate(notebook_cells(notebook)) if c.grade_id == grade_id)
        for cell in notebook_cells(notebook)[start + 1:]:
            if cell.kind == "solution":
                break
            if cell.kind == "locked":
                try:  # a fixture built from the answer may fail; the tests after it then fail as they would
                    _run(cell.code, namespace, f"{notebook} cell {cell.grade_id}")
                except Exception:
                    pass
            elif cell.kind == "test":
                try:
                    _run(cell.code, namespace, f"{notebook} cell {cell.grade_id}")
                    results[cell.grade_id] = None
                except Exception as exc:
                    results[cell.grade_id] = f"{type(exc).__name__}: {exc}"
    return results


def variant_text(path: Path) -> str:
    return path.read_text()
