import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.course import copy_course  # noqa: E402


JAIL_INSTALL = "`make system-packages` as root (Debian/Ubuntu: apt-get install bubblewrap)"


def require(condition: bool, reason: str, install: str | None = None) -> None:
    """Skip a test whose tool is missing here, saying what is missing and how to install it, but fail in CI, where
    .ci/run installs every tool."""
    if not condition:
        if install:
            reason = f"{reason}; install: {install}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {reason}")
        pytest.skip(reason)


def require_jail() -> None:
    from autograder.jail import probe

    problem = probe()
    require(problem is None, f"needs the grading jail: {problem}", JAIL_INSTALL)


make_course_copy = copy_course


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    return make_course_copy(tmp_path / "course")


# Notebooks under tests/ are fixtures (broken or hostile submissions), never nbval tests.
collect_ignore_glob = ["**/*.ipynb"]
