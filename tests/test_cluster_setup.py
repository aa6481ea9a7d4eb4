"""`lab autograde --scheduler` refuses, before any student is graded, what cannot work on a cluster: an SQLite
gradebook, a scheduler that does not answer, `--scheduler` with no address given or configured. (The real cluster
is tests/test_dask_cluster.py.)"""
import subprocess
import sys

import pytest
from conftest import use_gradebook

from autograder import cluster
from autograder.autograde import autograde_class
from autograder.cluster import ClusterSetupError
from autograder.paths import ASSIGNMENT

NOWHERE = "tcp://127.0.0.1:9"  # nothing listens there: connections are refused at once
NO_SERVER = "postgresql+psycopg2://grader@127.0.0.1:9/course"  # never reached


@pytest.fixture
def course(course_copy):
    """A course whose gradebook is its own SQLite file (the course's nbgrader_config.py)."""
    folder = course_copy / "submitted" / "s1" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / "03_rmsnorm.ipynb").write_text("{}")
    return course_copy


def test_an_sqlite_gradebook_is_refused_before_any_student(course):
    with pytest.raises(ClusterSetupError, match="SQLite.*c.CourseDirectory.db_url = 'postgresql"):
        autograde_class(course, scheduler=NOWHERE)
    assert not (course / "autograded").exists()


def test_the_command_says_why_and_exits_with_the_set_up_status(course):
    result = subprocess.run([sys.executable, "-m", "autograder", "autograde", "--scheduler", NOWHERE], cwd=course,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the gradebook is SQLite" in result.stderr and "Nothing was graded" in result.stderr, result.stderr
    assert not (course / "autograded").exists()


def test_a_scheduler_that_does_not_answer_is_refused(course, monkeypatch):
    use_gradebook(course, NO_SERVER)
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ClusterSetupError, match=f"could not reach the Dask scheduler \\({NOWHERE}\\)"):
        autograde_class(course, scheduler=NOWHERE)
    assert not (course / "autograded").exists()


def test_scheduler_without_an_address_reads_dask_config(course, monkeypatch):
    import dask

    use_gradebook(course, NO_SERVER)
    with dask.config.set({"scheduler-address": None}), pytest.raises(ClusterSetupError, match="names none"):
        autograde_class(course, scheduler=cluster.FROM_DASK_CONFIG)


def test_a_daemonic_worker_is_refused_naming_dasks_setting(course):
    """A worker under Dask's nanny is a daemonic process unless Dask's setting distributed.worker.daemon is False, and
    a daemonic process may not start the grading processes: the run stops before any student and says how to set
    it. (The real cluster, whose nanny worker has the setting, is tests/test_dask_cluster.py.)"""
    from autograder.course import Course

    class Client:  # what client.run(worker_facts) answers for two workers, one of them daemonic
        def run(self, func):
            facts = {**func(), "jail": None}
            return {"tcp://w1:1": facts, "tcp://w2:1": {**facts, "daemonic": True}}

    with pytest.raises(ClusterSetupError, match="tcp://w2:1 run as daemonic.*distributed.worker.daemon = False"
                                                ".*DASK_DISTRIBUTED__WORKER__DAEMON=False"):
        cluster.Cluster(Client(), Course.load(course)).check_workers()
    assert not cluster.worker_facts()["daemonic"]  # this test's own process: the main process, never daemonic
