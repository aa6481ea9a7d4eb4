"""Grading into a real PostgreSQL gradebook gives the same scores as SQLite (the golden scores)."""
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import make_course_copy, require

from autograder import example_class
from autograder.example_class.grade import grade_example_class

STUDENTS = ["alice", "bob", "carol"]  # a subset keeps the test short; the golden test covers everyone on SQLite


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _bindir()
    require(bindir is not None, "a PostgreSQL server (Debian package postgresql; `make system-packages`)")
    home = Path(tempfile.mkdtemp(prefix="pg-gradebook-"))
    as_postgres = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's `postgres` user
        shutil.chown(home, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, sock = home / "data", home
    run = lambda *cmd: subprocess.run([*as_postgres, *map(str, cmd)], check=True, capture_output=True, text=True)  # noqa: E731
    run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    run(bindir / "pg_ctl", "-D", data, "-w", "-l", home / "log", "-o", f"-k {sock} -c listen_addresses=''", "start")
    try:
        run(bindir / "createdb", "-h", sock, "-U", "postgres", "gradebook")
        yield f"postgresql+psycopg2://postgres@/gradebook?host={sock}"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_postgres_gradebook_matches_the_golden_scores(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_DB_URL", postgres_url)
    repo = make_course_copy(tmp_path / "repo")
    example = tmp_path / "example_course"
    result = grade_example_class(repo, example_root=example, only=STUDENTS)
    assert not (example / "gradebook.db").exists(), "grading wrote to SQLite instead of PostgreSQL"
    assert all(r.status == "graded" for r in result["results"])
    for student in example_class.load_class():
        if student.id in STUDENTS:
            for notebook, expected in student.expected.items():
                assert result["scores"].score[(student.id, notebook)] == expected, (student.id, notebook)
