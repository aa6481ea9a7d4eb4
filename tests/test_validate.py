"""nbgrader validate passes on the solution and fails (--invert passes) on the untouched release notebook; Validate on a
student's machine decides as grading does, a warning in a test cell included, with nothing of nbgrader patched."""
import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils as nbgrader_utils

from autograder import student_config
from autograder.course import course_config
from autograder.nbgrader_cli import nbgrader_env, run_nbgrader
from autograder.paths import ASSIGNMENT, RELEASE, REPO, SOLUTIONS, assignment_notebook_names


@pytest.mark.parametrize("name", assignment_notebook_names())
def test_solution_validates(name):
    result = run_nbgrader("validate", str(SOLUTIONS / ASSIGNMENT / f"{name}.ipynb"), check=False, quiet=True)
    assert result.returncode == 0 and "Success! Your notebook passes all the tests." in result.stdout, result.stdout


@pytest.mark.parametrize("name", assignment_notebook_names())
def test_untouched_release_fails_validation(name):
    result = run_nbgrader("validate", "--invert", str(RELEASE / ASSIGNMENT / f"{name}.ipynb"), check=False,
                          quiet=True, course_root=REPO)
    assert result.returncode == 0 and "Success! The notebook does not pass any tests." in result.stdout, \
        result.stdout


# --- Validate on a student's machine decides as grading (issue 11, point 8), patching nothing (issue 22) ----------

SHIPPED_CONFIG = RELEASE / ASSIGNMENT / student_config.FILE_NAME
WARNINGS_AS_OUTPUT = (REPO / "autograder" / "cells" / "warnings_as_output.py").read_text().rstrip("\n")


def locked_cell(code: str, grade_id: str, points: float | None = None) -> nbformat.NotebookNode:
    """A read-only cell as in the release notebooks; with points, a graded test cell."""
    cell = nbformat.v4.new_code_cell(code)
    cell.metadata["nbgrader"] = {"grade": points is not None, "solution": False, "locked": True,
                                 "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        cell.metadata["nbgrader"]["points"] = points
    cell.metadata["nbgrader"]["checksum"] = nbgrader_utils.compute_checksum(cell)
    return cell


def notebook_with_test_cell(path: Path, code: str, routed: bool = True) -> Path:
    """A notebook whose last cell is a locked, graded test cell, after (routed) the release notebooks' read-only
    cell that prints warnings as output while Validate runs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if routed:
        nb.cells.append(locked_cell(WARNINGS_AS_OUTPUT, "provided_warnings"))
    nb.cells.append(locked_cell(code, "test_cell", points=1))
    nbformat.write(nb, str(path))
    return path


WARNS = 'import warnings\nwarnings.warn("this call is deprecated", UserWarning)\nprint("visible tests passed")'
PRINTS_TO_STDERR = 'import sys\nprint("not a warning", file=sys.stderr)\nprint("visible tests passed")'
PASSES = "Success! Your notebook passes all the tests."


def validate_in(folder: Path, name: str) -> str:
    """`nbgrader validate NAME` started in folder, as a student runs it there."""
    return run_nbgrader("validate", name, check=False, quiet=True, course_root=folder).stdout


@pytest.fixture
def student_folder(tmp_path: Path) -> Path:
    """A student's assignment folder without the shipped config: what the notebooks do holds wherever Validate
    runs (an LMS or git copy, another folder, a hub)."""
    folder = tmp_path / ASSIGNMENT
    folder.mkdir()
    notebook_with_test_cell(folder / "warns.ipynb", WARNS)
    notebook_with_test_cell(folder / "warns_unrouted.ipynb", WARNS, routed=False)
    notebook_with_test_cell(folder / "prints_to_stderr.ipynb", PRINTS_TO_STDERR)
    return folder


def test_a_warning_in_a_test_cell_passes_validate_after_the_notebooks_warnings_cell(student_folder):
    assert "VALIDATION FAILED" in validate_in(student_folder, "warns_unrouted.ipynb"), (
        "without the warnings cell, nbgrader's Validate should fail a test cell that prints a warning: if it no "
        "longer does, autograder/cells/warnings_as_output.py may be unnecessary")
    assert PASSES in validate_in(student_folder, "warns.ipynb")


def test_other_stderr_output_still_fails_validate(student_folder):
    """Only warnings are printed as output: anything else written to stderr fails a test cell, as nbgrader says."""
    assert "VALIDATION FAILED" in validate_in(student_folder, "prints_to_stderr.ipynb")


def test_the_warnings_cell_changes_nothing_outside_validate():
    """In the student's own session (and in grading, NBGRADER_EXECUTION=autograde) warnings stay on stderr."""
    for execution in (None, "autograde"):
        env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
        if execution:
            env["NBGRADER_EXECUTION"] = execution
        script = WARNINGS_AS_OUTPUT + "\n" + WARNS
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert "UserWarning: this call is deprecated" in result.stderr and "UserWarning" not in result.stdout, result


def test_every_assignment_notebook_prints_warnings_as_output_before_its_tests():
    """A new notebook gets the cell too: `# %% include="autograder/cells/warnings_as_output.py"` (locked),
    right after its imports."""
    for name in assignment_notebook_names():
        nb = nbformat.read(str(RELEASE / ASSIGNMENT / f"{name}.ipynb"), as_version=4)
        meta = [cell.metadata.get("nbgrader", {}) for cell in nb.cells]
        first_test = next(i for i, m in enumerate(meta) if m.get("grade") and nb.cells[i].cell_type == "code")
        routing = [i for i, cell in enumerate(nb.cells) if cell.source == WARNINGS_AS_OUTPUT]
        assert routing and routing[0] < first_test and meta[routing[0]].get("locked"), (
            f"{name}: no read-only cell autograder/cells/warnings_as_output.py before its first test cell")


RMSNORM = "03_rmsnorm"
WARNING_IN_FORWARD = """

import warnings

_Quiet = RMSNorm


class RMSNorm(_Quiet):
    def forward(self, x):
        # as PyTorch warns of a deprecated call: a UserWarning, which Python prints on stderr
        warnings.warn("this overload of forward is deprecated and will be removed in a future release",
                      UserWarning)
        return super().forward(x)
"""


def rmsnorm_answer(folder: Path, kind: str, stem: str, routed: bool = True) -> str:
    """Notebook 03 as a student submits it, its RMSNorm a variant that warns in every forward, in folder; without
    the warnings cell unless routed."""
    from autograder.example_class import notebook_with_code
    from autograder.variants import variant_paths

    code = next(p for p in variant_paths("rmsnorm", kind) if p.stem == stem).read_text() + WARNING_IN_FORWARD
    nb = notebook_with_code(RELEASE / ASSIGNMENT / f"{RMSNORM}.ipynb", RMSNORM, {"rmsnorm_impl": code})
    if not routed:
        nb.cells = [cell for cell in nb.cells if cell.source != WARNINGS_AS_OUTPUT]
    name = f"{RMSNORM}_{kind}{'' if routed else '_unrouted'}.ipynb"
    nbformat.write(nb, str(folder / name))
    return name


def test_a_correct_answer_that_warns_passes_validate_and_a_wrong_one_still_fails(tmp_path):
    """Grading gives a correct RMSNorm that warns full marks (tests/adversarial/cases/noisy_correct.py): Validate
    passes it, in a folder with no configuration; a wrong one (a LayerNorm) with the same warning still fails.
    Without the warnings cell the correct one fails, on the warning: so the warning does reach the test cells."""
    correct, wrong = rmsnorm_answer(tmp_path, "correct", "llama_style"), rmsnorm_answer(tmp_path, "wrong", "layernorm")
    passed = validate_in(tmp_path, correct)
    assert PASSES in passed, passed
    unrouted = validate_in(tmp_path, rmsnorm_answer(tmp_path, "correct", "llama_style", routed=False))
    assert "VALIDATION FAILED" in unrouted and "UserWarning: this overload of forward" in unrouted, unrouted
    failed = validate_in(tmp_path, wrong)
    assert "VALIDATION FAILED" in failed and "UserWarning" not in failed, failed


def test_the_validate_button_decides_the_same(student_folder):
    """JupyterLab's Validate button (nbgrader's server extension) loads its configuration from the server's working
    folder, the shipped config among it, and runs the same Validator: the warning passes, the stderr line fails."""
    shutil.copy(SHIPPED_CONFIG, student_folder)
    script = (
        "import json\n"
        "from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler\n"
        "from nbgrader.validator import Validator\n"
        "config = ValidateAssignmentHandler.load_config(None)\n"
        "print(json.dumps([Validator(config=config).validate(name) for name in "
        "('warns.ipynb', 'prints_to_stderr.ipynb')]))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=student_folder, capture_output=True, text=True,
                            env=nbgrader_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    warns, prints_to_stderr = json.loads(result.stdout.splitlines()[-1])
    assert warns == {} and prints_to_stderr.get("failed"), result.stdout


def test_the_shipped_config_holds_grading_s_time_limit_settings_only():
    """Settings, no code (nothing in nbgrader is changed by reading it), and nothing of the course but its time
    limit."""
    course = course_config(REPO)
    text = SHIPPED_CONFIG.read_text()
    assert text == student_config.render(REPO), "release/ is stale: run `make build`"
    statements = ast.parse(text).body
    for statement in statements[1:]:  # after the docstring: c = get_config(), then c.Section.name = value
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        target = ast.unparse(statement.targets[0])
        assert target == "c" or (target.startswith("c.") and isinstance(statement.value, ast.Constant)), target
    assert f"c.Execute.timeout = {int(course.SandboxedExecute.timeout)}" in text
    for secret in ("db_url", "course_id", "CourseDirectory", "Exchange", "sandbox", "Sandbox", "gradebook",
                   str(REPO)):
        assert secret not in text, secret


def test_the_course_keeps_every_python_file_out_of_grading_and_the_exchange():
    """CourseDirectory.ignore keeps the text sources out of release/, and every submitted .py file (the shipped
    config included) out of the grading folder; the build writes the shipped config after nbgrader."""
    ignore = nbgrader_utils.ignore_patterns(exclude=course_config(REPO).CourseDirectory.ignore)
    names = ["01_decoder_block.py", "torch.py", student_config.FILE_NAME, "01_decoder_block.ipynb"]
    assert ignore(str(RELEASE / ASSIGNMENT), names) == names[:3]
