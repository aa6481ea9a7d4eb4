"""`lab new-exercise`: the skeleton it writes is complete and consistent (the trial of a whole new exercise, with
`make test-fast`, is reported in docs/instructors.md)."""
import ast
import shutil
import tomllib

import pytest

from autograder.paths import ASSIGNMENT, EXAMPLE_CLASS, REPO
from autograder.scaffold import ScaffoldError, next_notebook, scaffold


@pytest.fixture
def root(tmp_path):
    shutil.copytree(REPO / "source", tmp_path / "source", ignore=shutil.ignore_patterns("*.ipynb"))
    (tmp_path / "lab").mkdir()
    shutil.copy(EXAMPLE_CLASS, tmp_path / "lab")
    return tmp_path


def test_the_skeleton_of_a_new_notebook(root):
    notebook = next_notebook(root / "source" / ASSIGNMENT, "demo_swiglu")  # after the course's own notebooks
    steps = "\n".join(scaffold("demo_swiglu", root=root))
    for path in ("lab/checks/demo_swiglu.py", "lab/judges/demo_swiglu.py"):
        ast.parse((root / path).read_text())  # valid Python
    declared = tomllib.loads((root / "tests/variants/demo_swiglu/variants.toml").read_text())
    assert declared["caught"]["adds_the_weight"] and declared["mutants"]["adds_the_weight"]["cell"] == "demo_swiglu_impl"
    # the correct answer written otherwise is a line too (a rewrite of the reference), not a file
    assert declared["rewrites"]["another_way"]["replace"][1] == ["x * self.weight", "torch.mul(x, self.weight)"]
    assert not (root / "tests/variants/demo_swiglu/correct").exists()
    text = (root / "source" / ASSIGNMENT / f"{notebook}.py").read_text()
    assert '_checks.GROUPS.run("values", DemoSwiglu)' in text and '"points": 4' in text
    # the read-only warnings cell every assignment notebook has (Validate decides as grading), before the test cell
    warnings_cell = text.find('include="autograder/cells/warnings_as_output.py"')
    assert 0 <= warnings_cell < text.find('"grade": true'), "the skeleton lacks the warnings cell before its test"
    students = tomllib.loads((root / "lab" / "example_class.toml").read_text())["students"]
    assert all(spec["expected"][notebook] in (0.0, 4.0) for spec in students.values())
    assert students["demo_swiglu_right"]["expected"][notebook] == 4.0
    assert "make test-fast" in steps and f"{notebook}.py" in steps


def test_the_students_of_a_new_notebook(root):
    """Who answers the new notebook (on a class file of its own: the course's changes as exercises are added). The
    reference everywhere stays so (4.0); a student who answers only some notebooks leaves it untouched (0.0); one who
    answers every notebook, not all with the reference, leaves it untouched too and is named: that answer is the
    instructor's to choose."""
    notebooks = sorted(p.stem for p in (root / "source" / ASSIGNMENT).glob("[0-9]*.py"))
    zeros = ", ".join(f'"{nb}" = 0.0' for nb in notebooks)
    answers = {"ref": ", ".join(f'"{nb}" = "solution"' for nb in notebooks),
               "some": f'"{notebooks[0]}" = "solution"',
               "own_way": ", ".join(f'"{nb}" = {{ cell = "x/correct/y" }}' for nb in notebooks)}
    (root / "lab" / "example_class.toml").write_text("".join(
        f"[students.{sid}]\nanswers = {{ {line} }}\nexpected = {{ {zeros} }}\n\n" for sid, line in answers.items()))
    steps = "\n".join(scaffold("demo_swiglu", root=root))
    notebook = next((root / "source" / ASSIGNMENT).glob("*_demo_swiglu.py")).stem
    students = tomllib.loads((root / "lab" / "example_class.toml").read_text())["students"]
    assert students["ref"]["answers"][notebook] == "solution" and students["ref"]["expected"][notebook] == 4.0
    for sid in ("some", "own_way"):
        assert notebook not in students[sid]["answers"] and students[sid]["expected"][notebook] == 0.0
    assert "\n  own_way answer every other notebook" in steps  # named alone: not "some", not "ref"


def test_an_existing_notebook_gets_the_cells_to_paste(root):
    before = (root / "source" / ASSIGNMENT / "03_rmsnorm.py").read_text()
    steps = "\n".join(scaffold("scale", notebook="03_rmsnorm", root=root))
    assert (root / "source" / ASSIGNMENT / "03_rmsnorm.py").read_text() == before
    assert "paste these cells" in steps and '"grade_id": "scale_impl"' in steps


def test_a_function_exercise(root):
    """--function: students write a function; its probes call it, its mutant and correct variant are functions."""
    scaffold("scaled_sum", root=root, function=True)
    checks = (root / "lab/checks/scaled_sum.py").read_text()
    assert "def output_matches_reference(fn, seed" in checks and "nn.Module" not in checks
    declared = tomllib.loads((root / "tests/variants/scaled_sum/variants.toml").read_text())
    assert declared["mutants"]["adds_the_weight"]["replace"] == ["x * weight", "x + weight"]
    assert declared["rewrites"]["another_way"]["replace"] == ["x * weight", "torch.mul(x, weight)"]
    text = next((root / "source" / ASSIGNMENT).glob("*_scaled_sum.py")).read_text()
    assert "def scaled_sum(x, weight):" in text and '_checks.GROUPS.run("values", scaled_sum)' in text
    with pytest.raises(ScaffoldError, match="--function"):
        scaffold("other", cls="other_name", root=root)


def test_a_name_taken_or_not_a_module_name_is_refused(root):
    scaffold("scale", root=root)
    with pytest.raises(ScaffoldError, match="exists already"):
        scaffold("scale", root=root)
    with pytest.raises(ScaffoldError, match="lower case"):
        scaffold("Swi-GLU", root=root)



def test_the_skeleton_passes_the_generic_suite_as_written(tmp_path):
    """What the scaffold promises (its step 2): in a copy of this repository, `lab new-exercise` and then the generic
    tests of the new exercise, its visible tests and the class file's check pass without an edit, the mutant (wrong)
    and the rewrite (correct) included. The copy's own packages are imported (PYTHONPATH before the editable install)."""
    import os
    import subprocess
    import sys

    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "example_course", "build", "test-artifacts", "__pycache__", "*.egg-info", ".ruff_cache",
        ".pytest_cache", "*.ipynb", "release", "solutions", "gradebook.db"))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    for args in (["demo_gate"], ["demo_fn", "--function"]):  # a module's skeleton, a function's
        made = subprocess.run([sys.executable, "-m", "autograder", "new-exercise", *args], cwd=copy, env=env,
                              capture_output=True, text=True)
        assert made.returncode == 0, made.stdout + made.stderr
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_checks.py",
                          "tests/test_visible_tests.py", "tests/test_class_file.py", "-k",
                          "demo_gate or demo_fn or class"],
                         cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_checks.py",
         "-k", "demo_gate or demo_fn"], cwd=copy, env=env, capture_output=True, text=True).stdout
    for exercise in ("demo_gate", "demo_fn"):
        assert f"{exercise}/wrong/adds_the_weight" in collected, f"{exercise}'s mutant was not tested"
        assert f"{exercise}/correct/another_way" in collected, f"{exercise}'s rewrite was not tested"
