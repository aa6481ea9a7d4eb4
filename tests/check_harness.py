"""What the check tests share: the course's exercises as its notebooks run them, their variants and declared data.

An *exercise* is a check module, `lab/checks/<name>.py`. Everything else the tests need is found, not
written again per exercise:
- which notebook runs it, which groups, on which name and in which graded cell: the hidden-test lines of the source
  notebooks (`from lab.checks import <name> as _checks; _checks.GROUPS.run("<group>", <Name>)`);
- its answer variants: `tests/variants/<name>/{correct,wrong}/*.py`; a variant answers the groups whose
  argument it defines (an `RMSNorm` class answers every group run on `RMSNorm`);
- what only the instructor knows: `tests/variants/<name>/variants.toml` (the prelude of provided code a
  variant uses, the common mistakes a visible test must catch, exemptions), checked here against what exists.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import import_module
from pathlib import Path

import torch
from torch import nn

from autograder.judging import Solution
from autograder.notebook_text import build_notebook
from autograder.paths import ASSIGNMENT, CONTENT, SOURCE
from autograder.protocol import HIDDEN_TEST_LINE
from autograder.reference import as_while_validating, reference_namespace  # noqa: F401 -- the tests' too
from autograder.variants import HERE as VARIANTS
from autograder.variants import Variant, load_namespace, load_variant, variants

CHECKS = CONTENT / "checks"
# What the keys of variants.toml mean (an unknown key is a typo: tests/test_checks.py names it).
DECLARED_KEYS = {
    "mutants": "{wrong variant: { mistake, cell, replace }}: wrong answers written as a change of the reference",
    "rewrites": "{correct variant: { how, cell, replace }}: correct answers written as a change of the reference",
    "prelude": "Python code run before a variant: what the notebook's earlier cells define (provided code)",
    "caught": "{wrong variant: [graded cell, words]}: common mistakes a visible test must catch",
    "fails_exactly": "{wrong variant: [checks]}: the checks it fails are exactly these",
    "tolerance_sized": "{wrong variant: [checks]}: for another seed it fails at least these (not exactly the same)",
    "seed_free": "[checks] whose data holds no input of the grader's: replayed data passes them",
    "structure": "[checks] of the answer's form only (shapes, dtypes): no input of the grader's, no value to compare",
    "skip_visible_tests": "a reason: the visible tests are not run against this exercise's variants",
}


@dataclass(frozen=True)
class HiddenTest:
    """One hidden-test line: notebook, graded cell, check module, group and the name it is run on."""
    notebook: str
    cell: str
    module: str
    group: str
    argument: str


@lru_cache(maxsize=None)
def hidden_tests() -> tuple[HiddenTest, ...]:
    found = []
    for text in sorted((SOURCE / ASSIGNMENT).glob("[0-9]*.py")):
        for cell in build_notebook(text).cells:
            meta = cell.metadata.get("nbgrader", {})
            for match in HIDDEN_TEST_LINE.finditer(cell.source):
                found.append(HiddenTest(text.stem, meta.get("grade_id", "?"), match["module"], match["group"],
                                        match["argument"]))
    return tuple(found)


def check_module_names() -> list[str]:
    return sorted(p.stem for p in CHECKS.glob("[a-z]*.py"))


class Exercise:
    """One check module and everything the tests know about it."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    @cached_property
    def checks(self):
        return import_module(f"lab.checks.{self.name}")

    @property
    def groups(self):
        return self.checks.GROUPS

    @cached_property
    def hidden_tests(self) -> list[HiddenTest]:
        return [t for t in hidden_tests() if t.module == self.name]

    @property
    def notebook(self) -> str:
        notebooks = sorted({t.notebook for t in self.hidden_tests})
        assert len(notebooks) == 1, f"{self.name}: its groups are run by the notebooks {notebooks} (expected one)"
        return notebooks[0]

    @cached_property
    def argument(self) -> dict[str, str]:
        """{group: the name its hidden-test line runs it on}."""
        return {t.group: t.argument for t in self.hidden_tests}

    @cached_property
    def declared(self) -> dict:
        path = VARIANTS / self.name / "variants.toml"
        return tomllib.loads(path.read_text()) if path.is_file() else {}

    def variants(self, kind: str) -> list[Variant]:
        """Its variant files, and for wrong answers the mutants its variants.toml declares."""
        return variants(self.name, kind)

    @cached_property
    def prelude(self) -> dict:
        code = self.declared.get("prelude")
        return load_namespace(code, f"{self.name}/variants.toml prelude") if code else {}

    def load(self, path: Path | Variant) -> dict:
        """A variant's namespace, run as in the notebook: after what the notebook's provided cells define."""
        with as_while_validating():
            return load_variant(path, dict(self.prelude))

    def answered(self, namespace: dict) -> list[str]:
        """The groups whose argument the namespace defines (what a variant of one solution cell answers)."""
        return [g for g in self.groups.groups if self.argument.get(g) in namespace]

    def failures(self, namespace: dict, seed: int = 0, groups: list[str] | None = None) -> dict[str, str]:
        """{check: message} for the failing checks of the groups the namespace answers (or `groups`)."""
        failed = {}
        with as_while_validating():
            for group in self.answered(namespace) if groups is None else groups:
                failed.update(self.groups.failures(self.groups.names(group), namespace[self.argument[group]],
                                                   seed=seed))
        return failed

    @cached_property
    def reference(self) -> dict:
        return reference_namespace(self.notebook)

    def group_of(self, check: str) -> str:
        return self.groups.checks[check].group

    def probe(self, check: str, seed: int, answer=None) -> dict:
        """What the check's probe sends for the reference answer (or `answer`)."""
        answer = answer if answer is not None else self.reference[self.argument[self.group_of(check)]]
        with as_while_validating():
            return self.groups.checks[check].run_probe((answer,), seed)

    def judge(self, check: str, data, seed: int) -> str | None:
        """The judge's verdict on data as the grading process receives it: None (passed) or the message."""
        return judge_message(self.groups, check, data, seed)


@lru_cache(maxsize=None)
def exercises() -> tuple[Exercise, ...]:
    return tuple(Exercise(name) for name in check_module_names())


def exercise(name: str) -> Exercise:
    return next(e for e in exercises() if e.name == name)


def variant_id(variant: Path | Variant) -> str:
    return variant.id if isinstance(variant, Variant) else variant.relative_to(VARIANTS).with_suffix("").as_posix()


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
    from autograder.wire import roundtrip

    return groups.judges().verdict(name, roundtrip(data), seed)


# --- for the tests of judging by a reference (test_reference_judge*.py): a tiny exercise's reference and a mistake

@dataclass(frozen=True)
class Given(Solution):
    """A reference given as objects: what these tests judge by (the real one runs a source notebook, tested in
    test_reference_judge.py)."""
    given: tuple = ()

    def objects(self) -> tuple:
        return self.given


class Scaled(nn.Module):  # the reference: y = x * weight
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * self.weight


class Added(Scaled):  # wrong: x + weight
    def forward(self, x):
        return x + self.weight
