import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.paths import REPO  # noqa: E402


def require(condition: bool, reason: str) -> None:
    """Skip a test whose tool is missing here, but fail in CI, where .ci/run installs every tool."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide this: {reason}")
        pytest.skip(reason)


def make_course_copy(dest: Path) -> Path:
    """A scratch course root: the config, the text sources and the committed release (no gradebook)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", dest)
    shutil.copytree(REPO / "source", dest / "source", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    shutil.copytree(REPO / "release", dest / "release")
    return dest


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    return make_course_copy(tmp_path / "course")


# Notebooks under tests/ are fixtures (broken or hostile submissions), never nbval tests.
collect_ignore_glob = ["**/*.ipynb"]
