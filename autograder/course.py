"""A course root and its configuration: the real one (the repository) or a scratch copy of it."""
from __future__ import annotations

import shutil
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from .paths import REPO


def course_config(course_root: Path):
    """nbgrader_config.py as nbgrader reads it (course id, gradebook URL)."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()


def copy_course(dest: Path, source_root: Path = REPO) -> Path:
    """A scratch course root: the config, the text sources and the committed release (no gradebook)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_root / "nbgrader_config.py", dest)
    shutil.copytree(source_root / "source", dest / "source", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    shutil.copytree(source_root / "release", dest / "release")
    return dest
