"""Grading on a real Dask cluster: a `dask scheduler` and two `dask worker` processes (the venv's CLI) on 127.0.0.1
and a real PostgreSQL gradebook. One worker is killed while it grades; every student still gets exactly its golden
score, recorded once, and a re-run grades nothing."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_course_copy, require_jail, use_gradebook

from autograder import cluster, example_class
from autograder.autograde import autograde_class
from autograder.build import build_release
from autograder.course import Course
from autograder.paths import ASSIGNMENT
from autograder.report import read_scores

STUDENTS = ["alice", "carol", "dave", "frank"]  # four of the example class, each submitting two notebooks: the
NOTEBOOKS = ["01_decoder_block", "03_rmsnorm"]  # run stays near a minute (nbgrader gives 0 to the missing two)
DASK = Path(sys.executable).parent / "dask"


def _wait_for(condition, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout:.0f}s")
        time.sleep(0.2)


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-threaded workers, one started by a nanny (Dask's default) and one without, each in
    a session of its own so that killing one kills everything it started (nanny, worker, grading process), as when
    a machine dies. They share no folder with the course: its configuration, the gradebook's URL included, must
    travel with the tasks. A worker under a nanny is a daemonic process unless Dask's setting
    distributed.worker.daemon is False, which grading needs (it starts processes): set as docs/grading-at-scale.md
    says, in the workers' environment."""
    require_jail()  # before anything is started
    assert DASK.exists(), f"{DASK}: the dask command line is missing (`make setup` installs requirements.txt)"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = {}

    def start(name, *args):
        with open(logs / f"{name}.log", "w") as out:
            procs[name] = subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                           cwd=tmp_path, start_new_session=True)

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))
        _wait_for(scheduler_file.exists, "scheduler file")
        for name, nanny in (("w1", "--nanny"), ("w2", "--no-nanny")):  # both ways a worker is started
            start(name, "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", nanny,
                  "--name", name, "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path / name))
        yield scheduler_file, procs, logs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kill_a_grading_worker(observer, procs) -> dict:
    """Kill (SIGKILL, its whole process group) a worker that is executing a student's task right now."""
    def executing():
        # a lambda: cloudpickle sends it by value (the workers cannot import this test module)
        return observer.run(lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing])

    names = {addr: w["name"] for addr, w in observer.scheduler_info(n_workers=-1)["workers"].items()}
    busy = {}
    _wait_for(lambda: busy.update({names[a]: keys for a, keys in executing().items()
                                   if any(k.startswith("grade-") for k in keys)}) or busy,
              "worker executing a student", timeout=60)
    name, keys = sorted(busy.items())[0]
    os.killpg(procs[name].pid, signal.SIGKILL)
    procs[name].wait()
    return {"name": name, "students": [s for s in STUDENTS if any(k.startswith(f"grade-{s}-") for k in keys)]}


def test_a_dask_cluster_grades_each_student_once_to_its_golden_score_when_a_worker_dies(postgres, dask_cluster,
                                                                                       tmp_path, monkeypatch):
    from distributed import Client
    from nbgrader.api import Gradebook, SubmittedAssignment, SubmittedNotebook

    scheduler_file, procs, logs = dask_cluster
    url = postgres("cluster")
    course = make_course_copy(tmp_path / "course")
    use_gradebook(course, url)
    build_release(course)  # records the assignment in PostgreSQL
    roster = [s for s in example_class.load_class() if s.id in STUDENTS]
    example_class.write_submissions(course, roster, release=course / "release")
    for notebook in (course / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb"):
        if notebook.stem not in NOTEBOOKS:
            notebook.unlink()

    monkeypatch.setattr(cluster, "QUEUED_MIN", 1)  # two students submitted at a time: more as others finish
    monkeypatch.setattr(cluster, "QUEUED_PER_THREAD", 1)
    lines, killed = [], {}
    with Client(scheduler_file=str(scheduler_file), set_as_default=False) as observer:
        observer.wait_for_workers(2, timeout=120)

        def progress(line):
            lines.append(line)
            if not killed and ": graded" in line:  # a student is done: kill a worker in the middle of another
                killed.update(kill_a_grading_worker(observer, procs))

        results = autograde_class(course, scheduler_file=scheduler_file, progress=progress)
    worker_logs = "\n".join(p.read_text()[-3000:] for p in logs.glob("*.log"))
    assert killed, "no worker was killed"
    assert killed["students"], f"the killed worker {killed['name']} was grading no student"
    by_student = {r.student: r for r in results}
    assert sorted(by_student) == STUDENTS and len(results) == len(STUDENTS), results
    assert all(r.status == "graded" for r in results), f"{results}\n{worker_logs}"
    for student in killed["students"]:  # its task went to the worker that is left
        assert by_student[student].where not in ("", killed["name"]), by_student[student]
    for student in STUDENTS:
        done = [line for line in lines if f" {student}: graded" in line]
        assert len(done) == 1, (student, lines)
        assert list((course / "autograded" / student / ASSIGNMENT).glob("*.ipynb")), "graded notebooks not sent back"

    config = Course.load(course)
    with Gradebook(url, config.course_id) as gb:  # one submission per student, one graded copy per notebook
        for student in roster:
            assert gb.db.query(SubmittedAssignment).filter(SubmittedAssignment.student_id == student.id).count() == 1
            submission = gb.find_submission(ASSIGNMENT, student.id)
            notebooks = gb.db.query(SubmittedNotebook).filter(SubmittedNotebook.assignment == submission).all()
            assert sorted(nb.name for nb in notebooks) == sorted(student.expected), student.id
    scores = read_scores(url, config.course_id, ASSIGNMENT).score
    for student in roster:
        for notebook, expected in student.expected.items():
            assert scores[(student.id, notebook)] == (expected if notebook in NOTEBOOKS else 0.0), (student.id, notebook)

    # the manifest, kept by the submitting command: nothing changed, nothing is graded again
    again = []
    rerun = autograde_class(course, scheduler_file=scheduler_file, progress=again.append)
    assert {r.status for r in rerun} == {"skipped"}, rerun
    assert again[0].startswith("0 to grade"), again
