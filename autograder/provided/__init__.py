"""Code the course provides to students, written once and pasted into the notebooks by the build (an include cell).

A file here may use what an earlier provided cell of the same notebook defines (tiny_lm.py builds on attention.py's
MultiHeadAttention without importing it: release notebooks import nothing from this repository), so such files are
loaded with `load_together`, in notebook order, into one namespace.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_together(*names: str) -> dict:
    """Run the named provided files in order in one fresh namespace, as a notebook's include cells do."""
    namespace: dict = {"__name__": "autograder.provided.notebook"}
    for name in names:
        path = HERE / name
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace
