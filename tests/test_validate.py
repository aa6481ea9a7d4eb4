"""nbgrader validate passes on the solution and fails (--invert passes) on the untouched release notebook."""
import pytest

from autograder.nbgrader_cli import run_nbgrader
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
