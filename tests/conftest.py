import glob
import os
import shutil
import subprocess
import sys
import tempfile
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


def use_gradebook(course_root: Path, url: str) -> None:
    """The course's gradebook is `url`: nbgrader's setting, c.CourseDirectory.db_url, in the course's config."""
    with (course_root / "nbgrader_config.py").open("a") as f:
        f.write(f"\nc.CourseDirectory.db_url = {url!r}\n")


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    return make_course_copy(tmp_path / "course")


# A PostgreSQL server for the gradebook tests (test_postgres_gradebook.py, test_dask_cluster.py).
def _bindir():
    """The newest PostgreSQL server installed whose programs can be run here (None if there is none)."""
    for pg_ctl in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True):
        bindir = Path(pg_ctl).parent
        if all(os.access(bindir / name, os.X_OK) for name in ("pg_ctl", "initdb", "postgres", "createdb")):
            return bindir
    return None


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server; the fixture's value makes a new database and returns its URL."""
    bindir = _bindir()
    require(bindir is not None, "needs a PostgreSQL server (Debian package postgresql)",
            "`make system-packages` as root (Debian/Ubuntu: apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="pg-gradebook-"))
    as_postgres = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's `postgres` user
        shutil.chown(home, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, sock = home / "data", home
    run = lambda *cmd: subprocess.run([*as_postgres, *map(str, cmd)], check=True, capture_output=True, text=True)  # noqa: E731
    run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    run(bindir / "pg_ctl", "-D", data, "-w", "-l", home / "log", "-o", f"-k {sock} -c listen_addresses=''", "start")
    def new_database(name: str) -> str:
        run(bindir / "createdb", "-h", sock, "-U", "postgres", name)
        return f"postgresql+psycopg2://postgres@/{name}?host={sock}"

    try:
        yield new_database
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


# Notebooks under tests/ are fixtures (broken or hostile submissions), never nbval tests.
collect_ignore_glob = ["**/*.ipynb"]

# Markers (declared in pyproject.toml) by test file, in one table rather than in each module. `make test-fast`
# leaves out every test marked here. Notebooks run by nbval (solutions/, notebooks/) are all `slow`.
TESTS = Path(__file__).resolve().parent
MARKS = {
    "adversarial/test_adversarial.py": ("sandbox", "slow"),  # 35 hostile students graded in the jail
    "adversarial/test_zygote_isolation.py": ("sandbox",),  # two kernels forked from one zygote
    "adversarial/test_jail_hardening.py": ("sandbox", "slow"),  # hostile kernels on both paths, a pip install
    "test_example_class.py": ("sandbox", "slow"),  # the main job on the example class (golden scores)
    "test_parallel_autograde.py": ("sandbox", "slow"),  # grading runs that kill kernels and workers
    "test_postgres_gradebook.py": ("postgres", "sandbox", "slow"),  # grades into a real PostgreSQL server
    "test_dask_cluster.py": ("postgres", "sandbox", "slow"),  # a real Dask scheduler and workers, one killed
    "browser": ("browser", "slow"),  # JupyterLab in headless Chromium
    "test_student_lab.py": ("slow",),  # starts JupyterLab twice
    "test_validate.py": ("slow",),  # nbgrader validate runs notebooks (whole solutions: 10-60 s each here)
    "test_course.py": ("slow",),  # runs the lab command line on scratch courses (about 1.5 min)
    "test_hub.py": ("hub", "browser", "sandbox", "slow"),  # a real JupyterHub, two students in Chromium
    "test_lms_collect.py": ("sandbox", "slow"),  # an LMS's zip through nbgrader zip_collect, graded in the jail
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
            continue
        for where, marks in MARKS.items():
            if path == TESTS / where or TESTS / where in path.parents:
                for mark in marks:
                    item.add_marker(getattr(pytest.mark, mark))


def pytest_sessionfinish(session, exitstatus):
    """Tests kill grading processes with SIGKILL on purpose (test_parallel_autograde, test_jail_hardening), which
    leaves their jail folders (/tmp/ag-jail-*) for the next grading process to remove: this run is that next one,
    so that no jail folder outlives `make test`."""
    from autograder.jail import rundir

    rundir.sweep()
