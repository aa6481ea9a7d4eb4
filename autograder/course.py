"""A course: its root folder and what nbgrader's own configuration says about it, read once.

Every command acts on one Course, as every nbgrader command acts on the course it is run in: the root is the folder
given (`--course DIR`) or the current directory, and its configuration is loaded by nbgrader's own loader, the
`NbGrader` application's, in nbgrader's order: the Jupyter config path (`jupyter --paths`: JUPYTER_CONFIG_DIR or
~/.jupyter, then the environment's and the system-wide folders such as /etc/jupyter, where a hub puts its
settings), `jupyter_config.*` and `nbgrader_config.*` in each, the later ones overridden by the earlier; then the
course's own nbgrader_config.py, which overrides them all; then what the command line sets. So the root, the
gradebook URL, the course id and every setting (`c.SandboxedExecute.*` the grading kernels' limits, `c.Jail.*`) are
what `nbgrader autograde` run in that folder would use.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .paths import ASSIGNMENT, REPO

CONFIG_FILE = "nbgrader_config.py"


class NotACourse(ValueError):
    """The folder has no nbgrader_config.py: not a course root."""


def nbgrader_config(root: Path, overrides: Config | None = None) -> Config:
    """The configuration `nbgrader` reads when run in `root`, loaded by nbgrader's own application (see the module's
    docstring), plus `overrides` (what a command line sets, which wins over every file, as in nbgrader).

    nbgrader run in a folder reads that folder's nbgrader_config.py twice (as the current directory's and as the
    course root's); here it is read once, as the course root's, so that `--course DIR` means the same as running in
    DIR whatever the current directory."""
    from jupyter_core.application import JupyterApp
    from nbgrader.apps.baseapp import NbGrader
    from traitlets.config import Application

    app = NbGrader()
    app.cli_config = Config(overrides or {})  # merged last by every load below, as nbgrader's own command line is
    # The Jupyter config path, as NbGrader.load_config_file reads it with load_cwd_config off (its warning when no
    # file is found there is for nbgrader's own command line: a course configures itself in its folder).
    JupyterApp.load_config_file(app)
    # The course root's file, as NbGrader.initialize reads it after the command line
    Application.load_config_file(app, CONFIG_FILE, path=str(root))
    return Config(app.config)


@dataclass(frozen=True)
class Course:
    root: Path
    assignment: str
    db_url: str
    course_id: str
    config: Config  # everything nbgrader reads for this course, `overrides` included
    overrides: Config = field(default_factory=Config)  # what the command line set (passed on to grading processes)

    @classmethod
    def load(cls, root: Path | str | None = None, assignment: str | None = None,
             overrides: Config | None = None) -> "Course":
        """The course rooted at `root` (default: the current directory), with the configuration nbgrader reads there
        (nbgrader_config), plus `overrides`."""
        from nbgrader.coursedir import CourseDirectory

        root = Path(root or Path.cwd()).resolve()
        if not (root / CONFIG_FILE).is_file():
            raise NotACourse(f"{root} is not an nbgrader course root (there is no {CONFIG_FILE} in it): run the "
                             "command in the course's folder, or name it with --course DIR")
        overrides = Config(overrides or {})
        config = nbgrader_config(root, overrides)
        if not config.CourseDirectory.get("root"):
            config.CourseDirectory.root = str(root)  # nbgrader's default is the current directory: make it this one
        coursedir = CourseDirectory(config=config)
        return cls(root=Path(coursedir.root).resolve(),
                   assignment=assignment or coursedir.assignment_id or ASSIGNMENT,
                   db_url=coursedir.db_url, course_id=coursedir.course_id, config=config, overrides=overrides)

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
    """The course's own nbgrader_config.py alone, without the machine's Jupyter config path: for what must not
    depend on the machine it is made on (the students' configuration that the build writes into release/)."""
    if not (Path(course_root) / CONFIG_FILE).is_file():
        raise NotACourse(f"{course_root} is not an nbgrader course root (there is no {CONFIG_FILE} in it)")
    return PyFileConfigLoader(CONFIG_FILE, path=str(course_root)).load_config()
