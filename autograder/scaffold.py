"""`lab new-exercise NAME`: the skeleton of a new automatically graded exercise, ready to run and to edit.

Writes, for NAME (a Python identifier, e.g. `swiglu`):
  lab/checks/NAME.py                      the probes (run in the student's kernel)
  lab/judges/NAME.py                      the judges (run by the grader: every decision; by default, comparison
                                          with the same probe run on the reference solution)
  tests/variants/NAME/variants.toml         a common mistake and a correct answer written otherwise, each as a change
                                            of the reference ([mutants], [rewrites]), and what the tests must know
                                            (the mistakes a visible test catches)
and the notebook's cells: a new text source `source/<assignment>/NN_NAME.py` (with --notebook naming a notebook that
does not exist yet, by default the next number), or, for an existing notebook, the cells to paste into it; with a
new notebook, also the example class's lines (every student gets 0.0 for it, plus two example students).

The skeleton is a complete 4-point exercise (a module `Cls(d_model)` whose learnable vector `weight` starts at ones
and multiplies the input; with --function, a function `name(x, weight)` that returns x * weight) that passes
`make test-fast` as written: edit each `FILL IN` into your exercise.
docs/instructors.md ("Adding an exercise") walks through it.
"""
from __future__ import annotations

import argparse
import keyword
import logging
import re
import tomllib
from pathlib import Path

from .paths import ASSIGNMENT, CONTENT, CONTENT_PACKAGE, EXAMPLE_CLASS, REPO, SOURCE, VARIANTS

log = logging.getLogger(__name__)

POINTS = 4

# the probes' seeded draw, in both skeletons (a value inserted by format: its text is not a template)
DRAWN = '''def drawn(seed: int, stream: int, shape: tuple) -> torch.Tensor:
    """Numbers drawn from the notebook's seed: another grading run (another seed) draws others, so data recorded
    there fails here. One stream per use, so that adding a draw changes no other."""
    generator = torch.Generator().manual_seed((seed * 1_000_003 + stream) % 2**63)
    return torch.randn(shape, generator=generator)'''

CHECKS = """\"\"\"Hidden checks for `{cls}(d_model)` ({notebook}): the probes, run in the student's kernel.

FILL IN what the notebook states, and so what these checks rely on. (The skeleton: an nn.Module with one learnable
vector `weight` of shape (d_model,), initialised to ones, whose forward returns x * weight.)

A probe builds its inputs (and the module's weights) from the seed the grader drew for this notebook, calls the
student's code and returns plain data (tensors, numbers, strings, lists, dicts); it decides nothing. The grader runs
the same probe on your reference solution with the same seed and compares ({package}/judges/{name}.py).
\"\"\"
from __future__ import annotations

import torch
from torch import nn

from autograder.probing import CheckGroups, expect, plain

GROUPS = CheckGroups()

D_MODEL = 8
SHAPES = [(3, 5, D_MODEL), (7, D_MODEL)]  # FILL IN: shapes that catch what a small example does not (ranks, widths)


{drawn}


def make(cls, seed: int | None = None) -> nn.Module:
    \"\"\"The student's module; with `seed`, its weights replaced by numbers drawn from it: weights at their initial
    values (ones, zeros) hide mistakes.\"\"\"
    module = cls(D_MODEL)
    expect(isinstance(module, nn.Module), "{cls} must be an nn.Module (subclass torch.nn.Module)")
    if seed is not None:
        with torch.no_grad():
            module.weight.copy_(drawn(seed, 1, (D_MODEL,)))  # FILL IN: every parameter the notebook names
    return module


@GROUPS.probe("values")
def output_matches_reference(cls, seed: int) -> dict:
    \"\"\"the output equals the reference's, with random weights and inputs of several shapes\"\"\"
    module = make(cls, seed)
    return {{"outputs": [plain(module(drawn(seed, 10 + i, shape))) for i, shape in enumerate(SHAPES)]}}


@GROUPS.probe("values")
def gradients_match_reference(cls, seed: int) -> dict:
    \"\"\"gradients reach the input and the weight as the reference's do (the weight is a learnable parameter)\"\"\"
    module = make(cls, seed)
    x = drawn(seed, 2, SHAPES[0]).requires_grad_()
    y = module(x)
    expect(isinstance(y, torch.Tensor) and y.requires_grad, "the output does not depend on a learnable parameter")
    (y * drawn(seed, 3, SHAPES[0])).sum().backward()
    return {{"input": plain(x.grad), "weight": plain(module.weight.grad)}}


@GROUPS.probe("values")
def initial_weights_match_reference(cls, seed: int) -> dict:
    \"\"\"a new module (its weight as initialised) computes what the reference's does\"\"\"
    # FILL IN: drop this probe if the notebook leaves the initialisation free (random: nothing to compare)
    return {{"y": plain(make(cls)(drawn(seed, 4, SHAPES[0])))}}
"""

CHECKS_FUNCTION = """\"\"\"Hidden checks for `{cls}(x, weight)` ({notebook}): the probes, run in the student's kernel.

FILL IN what the notebook states, and so what these checks rely on. (The skeleton: a function of a tensor x of shape
(..., d) and a vector weight of shape (d,) that returns x * weight.)

A probe draws its inputs from the seed the grader drew for this notebook, calls the student's function and returns
plain data (tensors, numbers, strings, lists, dicts); it decides nothing. The grader runs the same probe on your
reference solution with the same seed and compares ({package}/judges/{name}.py).
\"\"\"
from __future__ import annotations

import torch

from autograder.probing import CheckGroups, expect, plain

GROUPS = CheckGroups()

D = 8
SHAPES = [(3, 5, D), (7, D)]  # FILL IN: shapes that catch what a small example does not (ranks, widths)


{drawn}


@GROUPS.probe("values")
def output_matches_reference(fn, seed: int) -> dict:
    \"\"\"the output equals the reference's, for inputs of several shapes\"\"\"
    return {{"outputs": [plain(fn(drawn(seed, 10 + i, shape), drawn(seed, 20 + i, shape[-1:])))
                        for i, shape in enumerate(SHAPES)]}}


@GROUPS.probe("values")
def gradients_match_reference(fn, seed: int) -> dict:
    \"\"\"gradients reach every input as the reference's do\"\"\"
    x, weight = drawn(seed, 2, SHAPES[0]).requires_grad_(), drawn(seed, 3, SHAPES[0][-1:]).requires_grad_()
    y = fn(x, weight)
    expect(isinstance(y, torch.Tensor) and y.requires_grad, "the output does not keep its inputs' gradients")
    (y * drawn(seed, 4, SHAPES[0])).sum().backward()
    return {{"x": plain(x.grad), "weight": plain(weight.grad)}}
"""

JUDGES = """\"\"\"Judges of `{cls}`'s probes ({package}/checks/{name}.py), run by the grader, never in the student's kernel.

Every probe without a judge below is judged by comparison: the grader runs it on your reference solution (the
solution cells of source/{assignment}/{notebook}.py) with the same seed, and the student's data must be the same
(tensors within rtol/atol, everything else equal). Write a judge only for a check that comparison cannot decide (a
tolerance of its own, an exception of the right kind: docs/instructors.md, "The check API").
\"\"\"
from __future__ import annotations

from {package}.checks import {name} as probes

from autograder.judging import Judges, solution

JUDGES = Judges(probes.GROUPS, reference=solution("{notebook}", "{cls}"), rtol=1e-4, atol=1e-5)
"""

VARIANTS_TOML = '''# What the tests need to know about this exercise's variants (docs/instructors.md, "Adding an exercise").

# Wrong answers written as a small change of your reference solution (its solution cell in source/), one line each:
# replace = [a text that occurs once in the reference, what it becomes] (or a list of such pairs). A mistake that is
# more than a small change is a file, wrong/<name>.py, whose first line says the mistake ("# ...").
[mutants]
adds_the_weight = {{ mistake = "adds the weight to the input instead of multiplying by it (FILL IN: a mistake students make)", cell = "{name}_impl", replace = ["{product}", "{sum}"] }}

# Correct answers written as a small change of your reference, one line each (`how` it is written; every check must
# pass them). One written wholly another way is a file, correct/<name>.py.
[rewrites]
another_way = {{ how = "FILL IN: a correct answer written differently from the reference", cell = "{name}_impl", replace = {rewrite} }}

# Common mistakes a VISIBLE test must catch: wrong variant = [the graded cell whose visible asserts must fail, words
# the failure message must contain].
[caught]
adds_the_weight = ["test_{name}", "multiply"]
'''

HEADER = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {title}
#
# FILL IN: the learning goals, the time it takes, what is graded.

# %%
{imports}

# %% include="autograder/cells/warnings_as_output.py" nbgrader={{"grade_id": "provided_warnings", "locked": true}}

'''

CELLS = '''# %% [markdown]
# ## `{cls}`
#
# FILL IN what students implement: `{cls}(d_model)`, an `nn.Module` with one learnable vector `weight` of shape
# `(d_model,)`, initialised to ones; `forward(x)` returns `x * weight` (over the last dimension).

# %% nbgrader={{"grade_id": "{name}_impl", "solution": true}}
class {cls}(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        ### BEGIN SOLUTION
        self.weight = nn.Parameter(torch.ones(d_model))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return x * self.weight
        ### END SOLUTION


# %% nbgrader={{"grade": true, "grade_id": "test_{name}", "locked": true, "points": {points}}}
### BEGIN HIDDEN TESTS
from {package}.checks import {name} as _checks; _checks.GROUPS.run("values", {cls})
### END HIDDEN TESTS
layer = {cls}(3)
assert torch.equal(layer(torch.ones(2, 3)), torch.ones(2, 3)), (
    "a new {cls} should return its input unchanged: multiply the input by the weight, initialised to ones")
with torch.no_grad():
    layer.weight.copy_(torch.tensor([1.0, 2.0, -1.0]))
y = layer(torch.tensor([[1.0, 1.0, 2.0]]))
assert y.shape == (1, 3), f"output shape {{tuple(y.shape)}}, expected (1, 3)"
assert torch.allclose(y, torch.tensor([[1.0, 2.0, -2.0]])), "wrong values: multiply the input by the weight"
print("visible tests passed")
'''

CELLS_FUNCTION = '''# %% [markdown]
# ## `{cls}`
#
# FILL IN what students implement: `{cls}(x, weight)`, for `x` of shape `(..., d)` and `weight` of shape `(d,)`,
# returns `x * weight` (over the last dimension).

# %% nbgrader={{"grade_id": "{name}_impl", "solution": true}}
def {cls}(x, weight):
    ### BEGIN SOLUTION
    return x * weight
    ### END SOLUTION


# %% nbgrader={{"grade": true, "grade_id": "test_{name}", "locked": true, "points": {points}}}
### BEGIN HIDDEN TESTS
from {package}.checks import {name} as _checks; _checks.GROUPS.run("values", {cls})
### END HIDDEN TESTS
y = {cls}(torch.tensor([[1.0, 1.0, 2.0]]), torch.tensor([1.0, 2.0, -1.0]))
assert y.shape == (1, 3), f"output shape {{tuple(y.shape)}}, expected (1, 3)"
assert torch.allclose(y, torch.tensor([[1.0, 2.0, -2.0]])), "wrong values: multiply the input by the weight"
print("visible tests passed")
'''

STUDENTS = '''
[students.{name}_right]
about = "{notebook} only: `{cls}` written another way ({name}/correct/another_way)"
answers = {{ "{notebook}" = {{ {name}_impl = "{name}/correct/another_way" }} }}
expected = {{ {zeros}, "{notebook}" = {points}.0 }}

[students.{name}_wrong]
about = "{notebook} only: `{cls}` adds the weight instead of multiplying (a visible test names it; the hidden checks, which decide the points, give 0)"
answers = {{ "{notebook}" = {{ {name}_impl = "{name}/wrong/adds_the_weight" }} }}
expected = {{ {zeros}, "{notebook}" = 0.0 }}
'''


class ScaffoldError(ValueError):
    """The exercise cannot be written as asked (a name taken, not an identifier...): nothing was written."""


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def next_notebook(source: Path, name: str) -> str:
    numbers = [int(m.group(1)) for p in source.glob("[0-9]*.py") if (m := re.match(r"(\d+)_", p.name))]
    return f"{max(numbers, default=0) + 1:02d}_{name}"


def add_to_class_file(class_toml: Path, notebook: str, text_for_students: str, points: float) -> list[str]:
    """The new notebook for every student, then the two new students. A student who answers every notebook with the
    reference ("solution") does so in the new one too (full points); any other student leaves it untouched (an
    untouched notebook scores 0). Returns the students who answer every other notebook but not all with the
    reference: their answer to the new one is the instructor's to choose."""
    students = tomllib.loads(class_toml.read_text()).get("students", {})
    others = {nb for spec in students.values() for nb in spec.get("expected", {})}
    by_reference = {sid for sid, spec in students.items()
                    if others and all(spec.get("answers", {}).get(nb) == "solution" for nb in others)}
    to_choose = sorted(sid for sid, spec in students.items()
                       if sid not in by_reference and others and others <= set(spec.get("answers", {})))
    lines, student = [], None
    for line in class_toml.read_text().splitlines():
        if match := re.match(r"\[students\.(\w+)\]\s*$", line):
            student = match.group(1)
        if re.match(r"(expected|expected_all_or_nothing) = \{.*\}\s*$", line):
            score = f"{points:.1f}" if student in by_reference else "0.0"
            line = re.sub(r"\s*\}\s*$", f', "{notebook}" = {score} }}', line)
        elif student in by_reference and re.match(r"answers = \{.*\}\s*$", line):
            line = re.sub(r"\s*\}\s*$", f', "{notebook}" = "solution" }}', line)
        lines.append(line)
    class_toml.write_text("\n".join(lines) + "\n" + text_for_students)
    return to_choose


def scaffold(name: str, notebook: str | None = None, cls: str | None = None, assignment: str = ASSIGNMENT,
             root: Path = REPO, function: bool = False) -> list[str]:
    """Write the skeleton; return what to do next (lines to print)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r}: name the exercise as a Python module, in lower case (e.g. swiglu)")
    cls = cls or (name if function else class_name(name))
    if not cls.isidentifier() or keyword.iskeyword(cls):
        raise ScaffoldError(f"{cls!r} is not a Python {'function' if function else 'class'} name")
    if not function and not cls[0].isupper():
        raise ScaffoldError(f"{cls!r}: a class is named in CamelCase; for a function students write, add --function")
    source = root / SOURCE.relative_to(REPO) / assignment
    content, variants = root / CONTENT.relative_to(REPO), root / VARIANTS.relative_to(REPO)
    files = {
        content / "checks" / f"{name}.py": CHECKS_FUNCTION if function else CHECKS,
        content / "judges" / f"{name}.py": JUDGES,
        variants / name / "variants.toml": VARIANTS_TOML,
    }
    taken = [str(p.relative_to(root)) for p in files if p.exists()]
    if taken:
        raise ScaffoldError(f"exercise {name!r} exists already ({', '.join(taken)}): choose another name")
    notebook = notebook or next_notebook(source, name)
    text = source / f"{notebook}.py"
    new_notebook = not text.exists()
    fields = {"name": name, "cls": cls, "notebook": notebook, "points": POINTS, "package": CONTENT_PACKAGE,
              "assignment": assignment, "drawn": DRAWN, "product": "x * weight" if function else "x * self.weight",
              "sum": "x + weight" if function else "x + self.weight",
              "rewrite": ('["x * weight", "torch.mul(x, weight)"]' if function else
                          '[["torch.ones(d_model)", "torch.full((d_model,), 1.0)"], '
                          '["x * self.weight", "torch.mul(x, self.weight)"]]'),
              "imports": "import torch" if function else "import torch\nfrom torch import nn",
              "title": f"Exercise {notebook.split('_', 1)[0].lstrip('0')}: `{cls}`"}
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    steps = [f"wrote {', '.join(str(p.relative_to(root)) for p in files)}"]
    cells = (CELLS_FUNCTION if function else CELLS).format(**fields)
    if new_notebook:
        text.write_text(HEADER.format(**fields) + cells)
        class_toml = root / EXAMPLE_CLASS.relative_to(REPO)
        others = sorted(p.stem for p in source.glob("[0-9]*.py") if p != text)
        zeros = ", ".join(f'"{other}" = 0.0' for other in others)
        to_choose = add_to_class_file(class_toml, notebook, STUDENTS.format(zeros=zeros, **fields), POINTS)
        steps += [f"wrote {text.relative_to(root)} (a new notebook: the solution cell and a {POINTS}-point test cell)",
                  f"added to {class_toml.relative_to(root)}: \"{notebook}\" answered with the reference ({POINTS}.0) "
                  "by the students who answer every notebook so, untouched (0.0) by the others, and the example "
                  f"students {name}_right ({POINTS}.0) and {name}_wrong (0.0)"]
        if to_choose:
            steps += [f"  {', '.join(to_choose)} answer every other notebook, not all with the reference: they leave "
                      f"{notebook} untouched (0.0) until you give them an answer there (and its score)"]
    else:
        steps += [f"{text.relative_to(root)} exists: paste these cells into it, after the cells they use:", "",
                  cells, "then add to each student's expected score of that notebook in "
                  "lab/example_class.toml what their answer now gets there"]
    steps += ["", "next:",
              "  1. make build                      release/ and solutions/ for the new cells (the tests compare them)",
              "  2. make test-fast                  runs as written: the generic tests (tests/test_checks.py) pass",
              f"  3. edit every FILL IN: the cells in {text.relative_to(root)}, the probes (their judge is your solution),",
              "     the variants (add more: every check must fail some wrong variant), variants.toml",
              "  4. make build && make test-fast    each failure names what to fix; commit release/, solutions/ and",
              "                                     .build-stamps.json with your sources",
              "  5. make grade                      the example class, with the new students' scores",
              "docs/instructors.md, 'Adding an exercise', explains each step."]
    return steps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the exercise's module name, in lower case (e.g. swiglu)")
    parser.add_argument("--notebook", default=None,
                        help="the notebook it goes into, e.g. 05_swiglu (default: a new notebook, the next number); "
                             "an existing one gets the cells to paste printed")
    parser.add_argument("--cls", default=None, help="the class (or, with --function, the function) students write "
                                                    "(default: the name in CamelCase; with --function, the name)")
    parser.add_argument("--function", action="store_true",
                        help="students write a function, not an nn.Module (the skeleton: f(x, weight) = x * weight)")
    parser.add_argument("--assignment", default=ASSIGNMENT, help=f"the assignment (default: {ASSIGNMENT})")


def run(args: argparse.Namespace) -> int:
    try:
        steps = scaffold(args.name, args.notebook, args.cls, args.assignment, function=args.function)
    except ScaffoldError as exc:
        log.error("%s", exc)
        return 2
    print("\n".join(steps))
    return 0
