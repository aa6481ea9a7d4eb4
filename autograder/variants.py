"""Load answer variants: correct and wrong answers to the exercises' cells, kept as test data in tests/variants/
(see its README.md). The tests check the checks on them; the example class builds its submissions from them."""
from __future__ import annotations

from pathlib import Path

from .paths import VARIANTS as HERE


def variant_paths(exercise: str, kind: str) -> list[Path]:
    """kind: 'correct' or 'wrong'."""
    return sorted((HERE / exercise / kind).glob("*.py"))


def load_namespace(code: str, name: str = "<variant>", prelude: dict | None = None) -> dict:
    """Run a solution cell's code as a notebook would, and return its namespace. `prelude`: what the notebook's
    earlier (provided) cells define, e.g. the provided MultiHeadAttention."""
    namespace: dict = {"__name__": "__variant__", **(prelude or {})}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def load_variant(path: Path, prelude: dict | None = None) -> dict:
    return load_namespace(path.read_text(), str(path), prelude)


def mistake(path: Path) -> str:
    """The one-line description at the top of a wrong variant."""
    return path.read_text().splitlines()[0].lstrip("# ").strip()
