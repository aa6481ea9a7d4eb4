"""The instructor's solution, run: what the tests compare variants with, and what a judge can take as its reference.

The source notebook (source/<assignment>/<notebook>.py) is run as a student's notebook runs before its tests: every
code cell in order, solution cells with the instructor's answer, test cells left out, NBGRADER_EXECUTION=validate
(so a notebook skips its training and timings, as under nbgrader's Validate). Trusted code, run in the process that
asks (the grader's, never the student's kernel), once per process.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from functools import lru_cache
from typing import Iterator

from .notebook_text import run_cells
from .paths import ASSIGNMENT
from .probing import isolated_state
from .variants import load_namespace


class ReferenceUnavailable(LookupError):
    """The reference cannot be run or lacks a name: a fault of the course (the message says which)."""


@contextlib.contextmanager
def as_while_validating() -> Iterator[None]:
    """NBGRADER_EXECUTION=validate (the notebooks skip their training and timings), warnings silenced (the
    notebook's own, e.g. torch.utils.checkpoint's), what it prints dropped, the caller's random streams, threads and
    grad mode kept."""
    old = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"
    try:
        with warnings.catch_warnings(), isolated_state(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        if old is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = old


@lru_cache(maxsize=None)
def reference_namespace(notebook: str, upto_grade_id: str | None = None, assignment: str = ASSIGNMENT) -> dict:
    """The namespace of the source notebook's code cells run up to and including the cell `upto_grade_id` (default:
    the last solution cell), test cells skipped: the instructor's own solution exactly as written in source/."""
    try:
        cells = run_cells(notebook, assignment)
    except OSError as exc:
        raise ReferenceUnavailable(f"cannot read the source of {notebook}: {exc}") from None
    if upto_grade_id is None:
        solutions = [grade_id for grade_id, cell in cells.items() if cell.solution]
        if not solutions:
            raise ReferenceUnavailable(f"{notebook} has no solution cell")
        upto_grade_id = solutions[-1]
    if upto_grade_id not in cells:
        raise ReferenceUnavailable(f"{notebook} has no cell {upto_grade_id!r}; its cells: {sorted(cells)}")
    with as_while_validating():
        return load_namespace(cells[upto_grade_id].program, f"{notebook} (reference)")


def reference_objects(notebook: str, names: tuple[str, ...], assignment: str = ASSIGNMENT) -> tuple:
    """The objects the reference solution defines under `names` (the class a hidden-test line runs its checks on)."""
    namespace = reference_namespace(notebook, None, assignment)
    missing = [name for name in names if name not in namespace]
    if missing:
        raise ReferenceUnavailable(f"the solution of {notebook} defines no {', '.join(missing)}")
    return tuple(namespace[name] for name in names)
