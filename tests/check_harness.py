"""What every exercise's check tests share: the reference solution from the source notebook, the variants."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from autograder.example_class import solution_cell_code
from autograder.notebook_text import build_notebook
from autograder.paths import ASSIGNMENT, SOURCE
from autograder.variants import load_namespace, variant_paths


@lru_cache(maxsize=None)
def reference_namespace(notebook: str, upto_grade_id: str) -> dict:
    """Run the source notebook's code cells, up to and including the cell `upto_grade_id`, skipping test cells.

    This is the instructor's own solution exactly as written in source/, not a copy of it.
    """
    nb = build_notebook(SOURCE / ASSIGNMENT / f"{notebook}.py")
    code = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        code.append(solution_cell_code(cell.source))
        if meta.get("grade_id") == upto_grade_id:
            return load_namespace("\n\n".join(code), f"{notebook} (reference)")
    raise KeyError(f"{notebook} has no cell {upto_grade_id!r}")


def variants(exercise: str, kind: str) -> list[Path]:
    paths = variant_paths(exercise, kind)
    assert paths, f"no {kind} variants for {exercise}"
    return paths


def zeros_like_data(data, numbers: bool = False):
    """Probe data with every tensor (and, with `numbers`, every number) replaced by zeros: what a forger who knows
    only the data's form sends."""
    if isinstance(data, torch.Tensor):
        return torch.zeros_like(data)
    if numbers and isinstance(data, (int, float)) and not isinstance(data, bool):
        return 0
    if isinstance(data, dict):
        return {k: zeros_like_data(v, numbers) for k, v in data.items()}
    if isinstance(data, list):
        return [zeros_like_data(v, numbers) for v in data]
    return data


def judge_message(groups, name: str, data, seed: int) -> str | None:
    """What the judge of check `name` (of `groups`, an exercise's GROUPS) says of probe data sent over the wire, as
    the grading process receives it: None when it passes, the failure message otherwise."""
    from autograder.checks._wire import roundtrip

    return groups.judges().verdict(name, roundtrip(data), seed)
