"""nbgrader validate passes on the solution and fails (--invert passes) on the untouched release notebook; with the
nbgrader_config.py shipped in release/, Validate on a student's machine decides as grading does."""
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


# --- Validate on a student's machine decides as grading (issue 11, point 8) ---------------------------------------

SHIPPED_CONFIG = RELEASE / ASSIGNMENT / student_config.FILE_NAME


def notebook_with_test_cell(path: Path, code: str) -> Path:
    """A one-cell notebook whose cell is a locked, graded test cell, as in the release notebooks."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(code)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "test_cell",
                                 "points": 1, "schema_version": 3}
    cell.metadata["nbgrader"]["checksum"] = nbgrader_utils.compute_checksum(cell)
    nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


WARNS = 'import warnings\nwarnings.warn("this call is deprecated", UserWarning)\nprint("visible tests passed")'
PRINTS_TO_STDERR = 'import sys\nprint("not a warning", file=sys.stderr)\nprint("visible tests passed")'


def validate_in(folder: Path, name: str) -> str:
    """`nbgrader validate NAME` started in folder, as a student runs it there."""
    return run_nbgrader("validate", name, check=False, quiet=True, course_root=folder).stdout


@pytest.fixture
def student_folder(tmp_path: Path) -> Path:
    folder = tmp_path / ASSIGNMENT
    folder.mkdir()
    notebook_with_test_cell(folder / "warns.ipynb", WARNS)
    notebook_with_test_cell(folder / "prints_to_stderr.ipynb", PRINTS_TO_STDERR)
    return folder


def test_a_warning_in_a_test_cell_passes_validate_with_the_shipped_config(student_folder):
    assert "VALIDATION FAILED" in validate_in(student_folder, "warns.ipynb"), (
        "without the shipped config, nbgrader's Validate should fail a test cell that prints a warning: "
        "if it no longer does, the shipped config may be unnecessary")
    shutil.copy(SHIPPED_CONFIG, student_folder)
    assert "Success! Your notebook passes all the tests." in validate_in(student_folder, "warns.ipynb")


def test_other_stderr_output_still_fails_validate_with_the_shipped_config(student_folder):
    """Grading drops only what matches its IgnorePattern: any other stderr output fails a test cell there too."""
    shutil.copy(SHIPPED_CONFIG, student_folder)
    assert "VALIDATION FAILED" in validate_in(student_folder, "prints_to_stderr.ipynb")


def test_the_validate_button_reads_the_shipped_config(student_folder):
    """JupyterLab's Validate button (nbgrader's server extension) loads its configuration from the server's working
    folder: started in the assignment's folder, it passes the warning as grading does. Run in a fresh process,
    because the shipped config extends nbgrader's Execute for the process that reads it."""
    shutil.copy(SHIPPED_CONFIG, student_folder)
    script = (
        "import json\n"
        "from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler\n"
        "from nbgrader.validator import Validator\n"
        "config = ValidateAssignmentHandler.load_config(None)\n"
        "print(json.dumps(Validator(config=config).validate('warns.ipynb')))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=student_folder, capture_output=True, text=True,
                            env=nbgrader_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {}, result.stdout


def test_the_shipped_config_matches_grading_and_holds_no_course_secret():
    course = course_config(REPO)
    text = SHIPPED_CONFIG.read_text()
    assert text == student_config.render(REPO), "release/ is stale: run `make build`"
    assert repr(course.IgnorePattern.pattern) in text
    assert f"c.Execute.timeout = {int(course.SandboxedExecute.timeout)}" in text or \
        "NBGRADER_CELL_TIMEOUT" in os.environ
    for secret in ("db_url", "course_id", "CourseDirectory", "Exchange", "sandbox", "Sandbox", "gradebook",
                   str(REPO)):
        assert secret not in text, secret


def test_the_course_keeps_every_python_file_out_of_grading_and_the_exchange():
    """CourseDirectory.ignore keeps the text sources out of release/, and every submitted .py file (the shipped
    config included) out of the grading folder; the build writes the shipped config after nbgrader."""
    ignore = nbgrader_utils.ignore_patterns(exclude=course_config(REPO).CourseDirectory.ignore)
    names = ["01_decoder_block.py", "torch.py", student_config.FILE_NAME, "01_decoder_block.ipynb"]
    assert ignore(str(RELEASE / ASSIGNMENT), names) == names[:3]
