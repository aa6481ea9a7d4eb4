"""`lab autograde --scheduler` refuses, before any student is graded, what cannot work on a cluster: an SQLite
gradebook, a scheduler that does not answer, `--scheduler` with no address given or configured. (The real cluster
is tests/test_dask_cluster.py.)"""
import os
import subprocess
import sys

import pytest

from autograder import cluster
from autograder.autograde import autograde_class
from autograder.cluster import ClusterSetupError
from autograder.paths import ASSIGNMENT

NOWHERE = "tcp://127.0.0.1:9"  # nothing listens there: connections are refused at once


@pytest.fixture
def course(course_copy, monkeypatch):
    monkeypatch.delenv("NBGRADER_DB_URL", raising=False)  # the course's own gradebook: SQLite
    folder = course_copy / "submitted" / "s1" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "03_rmsnorm.ipynb").write_text("{}")
    return course_copy


def test_an_sqlite_gradebook_is_refused_before_any_student(course):
    with pytest.raises(ClusterSetupError, match="SQLite.*NBGRADER_DB_URL=postgresql"):
        autograde_class(course, scheduler=NOWHERE)
    assert not (course / "autograded").exists()


def test_the_command_says_why_and_exits_with_the_set_up_status(course):
    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_DB_URL"}
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde", "--scheduler", NOWHERE], cwd=course,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the gradebook is SQLite" in result.stderr and "Nothing was graded" in result.stderr, result.stderr
    assert not (course / "autograded").exists()


def test_a_scheduler_that_does_not_answer_is_refused(course, monkeypatch):
    monkeypatch.setenv("NBGRADER_DB_URL", "postgresql+psycopg2://grader@127.0.0.1:9/course")  # never reached
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ClusterSetupError, match=f"could not reach the Dask scheduler \\({NOWHERE}\\)"):
        autograde_class(course, scheduler=NOWHERE)
    assert not (course / "autograded").exists()


def test_scheduler_without_an_address_reads_dask_config(course, monkeypatch):
    import dask

    monkeypatch.setenv("NBGRADER_DB_URL", "postgresql+psycopg2://grader@127.0.0.1:9/course")
    with dask.config.set({"scheduler-address": None}), pytest.raises(ClusterSetupError, match="names none"):
        autograde_class(course, scheduler=cluster.FROM_DASK_CONFIG)
