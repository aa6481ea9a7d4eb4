"""Load answer variants: correct and wrong answers to the exercises' cells, kept as test data in tests/variants/
(see its README.md). The tests check the checks on them; the example class builds its submissions from them.

A variant is either a file, `<exercise>/<kind>/<name>.py` (kind: correct or wrong), or, for a wrong answer that is
the reference solution with one small change (ReLU for SiLU, a forgotten scale), a *mutant*: a line of
`<exercise>/variants.toml`,

    [mutants]
    relu_gate = { mistake = "ReLU instead of SiLU", cell = "swiglu_impl", replace = ["F.silu(", "F.relu("] }

whose code is the instructor's solution of that cell (source/) with `replace`'s first text, which must occur there
exactly once, changed into its second (`replace` may also be a list of such pairs). A correct answer written as such
a change (einsum for a matmul, `1 / sqrt` for `rsqrt`) is a *rewrite*, a line of `[rewrites]` with `how` (how it is
written) in place of `mistake`. Files and lines are named alike, as `<exercise>/<kind>/<name>` (the example class's
answers, the tests' ids), and a line follows the reference when the instructor edits it.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .notebook_text import RunCell, run_cells
from .paths import ASSIGNMENT, SOURCE
from .paths import VARIANTS as HERE

KINDS = ("correct", "wrong")


class VariantError(ValueError):
    """A variant that cannot be made: the message names it and what to fix."""


@dataclass(frozen=True)
class Variant:
    """One answer: what a student could type into a solution cell."""
    id: str  # <exercise>/<kind>/<name>
    code: str  # what the student types into the cell
    mistake: str  # what is wrong with it ("" for a correct answer)
    where: str  # where it is written: its file, or its line of variants.toml
    context: str = ""  # a mutant's: the notebook's code before its cell (imports, provided code, earlier answers)

    @property
    def stem(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    def read_text(self) -> str:
        """The variant as a program that runs alone (as a file variant does, imports included)."""
        return f"{self.context}\n\n{self.code}" if self.context else self.code

    def __str__(self) -> str:
        return self.where


def variant_paths(exercise: str, kind: str) -> list[Path]:
    """The variant files of an exercise; kind: 'correct' or 'wrong'."""
    return sorted((HERE / exercise / kind).glob("*.py"))


def from_file(path: Path) -> Variant:
    code = path.read_text()
    return Variant(path.relative_to(HERE).with_suffix("").as_posix(), code,
                   _first_line(code) if path.parent.name == "wrong" else "", str(path))


@lru_cache(maxsize=None)
def _solution_cells(assignment: str = ASSIGNMENT) -> dict[str, RunCell]:
    """Every solution cell of the assignment's notebooks, by grade id, with the code its notebook runs before it."""
    return {grade_id: cell for text in sorted((SOURCE / assignment).glob("[0-9]*.py"))
            for grade_id, cell in run_cells(text.stem, assignment).items() if cell.solution}


# variants.toml's tables of changes of the reference: kind of answer, and the key that says what the change is
CHANGES = {"wrong": ("mutants", "mistake"), "correct": ("rewrites", "how")}


def changed_references(exercise: str, kind: str) -> list[Variant]:
    """The answers of that kind `<exercise>/variants.toml` writes as changes of the reference: its `[mutants]` (wrong)
    or `[rewrites]` (correct); see the module's text."""
    path = HERE / exercise / "variants.toml"
    if not path.is_file():
        return []
    table_name, about = CHANGES[kind]
    table = tomllib.loads(path.read_text()).get(table_name, {})
    found = []
    for name, spec in sorted(table.items()):
        where = f"{path} [{table_name}] {name}"
        if not isinstance(spec, dict) or set(spec) != {about, "cell", "replace"}:
            raise VariantError(f"{where}: write {{ {about} = \"...\", cell = \"<grade_id>\", replace = "
                               f"[\"<text of the reference>\", \"<what it becomes>\"] }}")
        cells = _solution_cells()
        if spec["cell"] not in cells:
            raise VariantError(f"{where}: no solution cell {spec['cell']!r} (there are: {', '.join(sorted(cells))})")
        code, context = cells[spec["cell"]].code, "\n\n".join(cells[spec["cell"]].before)
        pairs = spec["replace"] if spec["replace"] and isinstance(spec["replace"][0], list) else [spec["replace"]]
        for pair in pairs:
            if len(pair) != 2:
                raise VariantError(f"{where}: replace takes pairs [old, new], got {pair!r}")
            old, new = pair
            if code.count(old) != 1:
                raise VariantError(f"{where}: {old!r} occurs {code.count(old)} times in the reference of "
                                   f"{spec['cell']!r} (source/): it must occur exactly once")
            code = code.replace(old, new)
        found.append(Variant(f"{exercise}/{kind}/{name}", f"# {spec[about]}\n{code}",
                             spec[about] if kind == "wrong" else "", where, context))
    return found


def variants(exercise: str, kind: str) -> list[Variant]:
    """Every variant of an exercise of that kind: the files, and the lines of variants.toml (mutants, rewrites)."""
    found = [from_file(path) for path in variant_paths(exercise, kind)]
    taken = {v.stem for v in found}
    for changed in changed_references(exercise, kind):
        if changed.stem in taken:
            raise VariantError(f"{changed.where}: a file {exercise}/{kind}/{changed.stem}.py has that name too")
        found.append(changed)
    return found


def find_variant(variant_id: str) -> Variant | None:
    """The variant `<exercise>/<kind>/<name>` (a file or a mutant), or None."""
    parts = variant_id.split("/")
    if len(parts) != 3 or parts[1] not in KINDS:
        return None
    return next((v for v in variants(parts[0], parts[1]) if v.stem == parts[2]), None)


def all_variant_ids() -> list[str]:
    return sorted(v.id for exercise in sorted(p.name for p in HERE.iterdir() if p.is_dir())
                  for kind in KINDS for v in variants(exercise, kind))


def load_namespace(code: str, name: str = "<variant>", prelude: dict | None = None) -> dict:
    """Run a solution cell's code as a notebook would, and return its namespace. `prelude`: what the notebook's
    earlier (provided) cells define, e.g. the provided MultiHeadAttention."""
    namespace: dict = {"__name__": "__variant__", **(prelude or {})}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def load_variant(path: Path | Variant, prelude: dict | None = None) -> dict:
    return load_namespace(path.read_text(), str(path), prelude)


def mistake(path: Path | Variant) -> str:
    """The one-line description of a wrong variant (a file's first line)."""
    if isinstance(path, Variant):
        return path.mistake
    return _first_line(path.read_text())


def _first_line(code: str) -> str:
    return code.splitlines()[0].lstrip("# ").strip()
