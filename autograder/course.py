"""A course: its root folder and what nbgrader's own configuration says about it, read once.

Every command acts on one Course, as every nbgrader command acts on the course it is run in: the root is the folder
given (`--course DIR`) or the current directory, and nbgrader_config.py there is read through nbgrader's
`CourseDirectory`, so the root, the gradebook URL (`NBGRADER_DB_URL` when set, see nbgrader_config.py), the course
id and the grading kernels' limits (`c.SandboxedExecute.*`) are what nbgrader itself would use.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .jail.limits import KernelLimits
from .paths import ASSIGNMENT, REPO

CONFIG_FILE = "nbgrader_config.py"


class NotACourse(ValueError):
    """The folder has no nbgrader_config.py: not a course root."""


@dataclass(frozen=True)
class Course:
    root: Path
    assignment: str
    db_url: str
    course_id: str
    limits: KernelLimits
    config: Config

    @classmethod
    def load(cls, root: Path | str | None = None, assignment: str | None = None) -> "Course":
        """The course rooted at `root` (default: the current directory)."""
        from nbgrader.coursedir import CourseDirectory

        root = Path(root or Path.cwd()).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise NotACourse(f"{root} is not an nbgrader course root (there is no {CONFIG_FILE} in it): run the "
                             "command in the course's folder, or name it with --course DIR")
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        if not config.CourseDirectory.get("root"):
            config.CourseDirectory.root = str(root)  # nbgrader's default is the current directory: make it this one
        coursedir = CourseDirectory(config=config)
        return cls(root=Path(coursedir.root).resolve(),
                   assignment=assignment or coursedir.assignment_id or ASSIGNMENT,
                   db_url=coursedir.db_url, course_id=coursedir.course_id,
                   limits=KernelLimits.from_config(config.SandboxedExecute), config=config)

    @classmethod
    def here_or_repository(cls, root: Path | str | None = None, assignment: str | None = None) -> "Course":
        """`root` when given; else the current directory when it is a course root; else this repository's course."""
        if root is None and not (Path.cwd() / CONFIG_FILE).is_file():
            root = REPO
        return cls.load(root, assignment)

    def folder(self, name: str) -> Path:
        """One of nbgrader's folders for this assignment: source, release, submitted (per student), autograded..."""
        return self.root / name

    def submitted_students(self) -> list[str]:
        submitted = self.folder("submitted")
        if not submitted.is_dir():
            return []
        return sorted(p.name for p in submitted.iterdir() if (p / self.assignment).is_dir())

    @property
    def sqlite_file(self) -> Path | None:
        """The gradebook's file when the gradebook is SQLite; None for a server (PostgreSQL...)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.db_url)
        if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
            return None
        return Path(url.database)

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.course_id)


def copy_course(dest: Path, source_root: Path = REPO, release: bool = True) -> Path:
    """A scratch course root from source_root: the config, the text sources and (unless release=False) the release
    as committed; never a gradebook or submissions. Into an existing dest, these are refreshed in place.

    The one way a course is copied (the tests' scratch courses, the example course, the benchmark)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(source_root / CONFIG_FILE, dest)
    shutil.copytree(source_root / "source", dest / "source", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    if release:
        shutil.copytree(source_root / "release", dest / "release", dirs_exist_ok=True)
    return dest


def course_config(course_root: Path) -> Config:
    """nbgrader_config.py as nbgrader reads it (kept for callers that need only the raw configuration)."""
    return Course.load(course_root).config
