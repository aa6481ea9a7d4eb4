"""Code the course gives students, written once: the build pastes each file into the notebooks that include it.

A provided file may use names that an earlier provided cell of the notebook defines (plain_encoder.py uses
MultiHeadAttention), so it has no import of them; `as_in_notebook` runs such a file the way the notebook does.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def as_in_notebook(filename: str, earlier_cells: dict) -> dict:
    """The names a provided file defines when it runs after cells that defined `earlier_cells`."""
    namespace = {"__name__": f"provided_{Path(filename).stem}", **earlier_cells}
    path = HERE / filename
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace
