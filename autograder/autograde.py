"""Autograde a real class: every submission of the course this is run in, N at a time. `lab autograde`
(or `python -m autograder.autograde`), in the course root or with --course DIR.

nbgrader autogrades one notebook after another (nbgrader #174), and each notebook costs a fresh kernel and an
`import torch`. Here N worker processes each import nbgrader once (about 3.5 s saved per student compared with
one `nbgrader autograde --student` process per student) and grade one student at a time through nbgrader's own
Python API (`NbGraderAPI.autograde`, what Formgrader calls), so:
- a failing or crashing student is reported and the run goes on (an error is caught per student; a worker process
  that dies fails only the student it was grading, which pebble's process pool names, and is replaced while the
  others go on in parallel);
- each kernel runs torch with one thread (OMP_NUM_THREADS=1): the checks use small tensors, and N workers with
  several threads each would fight over the cores;
- a re-run grades only students whose submission, the release or the checks changed (unless --force);
- the gradebook stays consistent: SQLite in WAL mode with a busy timeout (nbgrader_config.py), or any
  PostgreSQL URL in NBGRADER_DB_URL for several graders on several machines;
- grading starts only where the jail works (autograder.jail): otherwise it stops before any student is touched,
  saying why and what to install (or AUTOGRADER_UNSANDBOXED=1 / --unsandboxed to grade without it on purpose);
- with --scheduler tcp://HOST:8786 (or --scheduler-file FILE) each student is a task of a Dask cluster instead
  (autograder/cluster.py): the task carries the submission, a worker grades it with the same function as here and
  sends back the graded notebooks; the gradebook must then be PostgreSQL.
"""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from . import jail
from .course import Course
from .nbgrader_cli import nbgrader_env
from .paths import REPO

log = logging.getLogger(__name__)
MANIFEST = ".grading-manifest.json"
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class StudentResult:
    student: str
    status: str  # "graded", "skipped" (unchanged since the last run) or "failed"
    seconds: float = 0.0
    detail: str = ""
    where: str = ""  # the Dask worker that graded it (cluster runs only)


def _digest_files(paths: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def as_course(course: Course | Path | str, assignment: str | None = None) -> Course:
    return course if isinstance(course, Course) else Course.load(course, assignment)


def grading_inputs_digest(course_root: Path, assignment: str) -> str:
    """What every student's grade depends on besides their own files: the release notebooks, the source
    notebooks (hidden tests live there and in the gradebook, not in release/), the config, the checks, the course's
    provided code they build on (staged into the jail with them) and the sandbox that runs them."""
    files = [*(course_root / "release" / assignment).glob("*.ipynb"), *(course_root / "source" / assignment).glob("*"),
             course_root / "nbgrader_config.py", *(REPO / "autograder" / "checks").glob("*.py"),
             *(REPO / "autograder" / "provided").glob("*.py"),
             *(REPO / "autograder" / "jail").glob("*.py"), *(REPO / "autograder" / "nbgrader_ext").glob("*.py"),
             REPO / "autograder" / "protocol.py"]
    h = hashlib.sha256()
    for path in sorted(p for p in files if p.is_file()):
        h.update(str(path.relative_to(path.parent.parent)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def submission_digest(course_root: Path, assignment: str, student: str, common: str) -> str:
    folder = course_root / "submitted" / student / assignment
    return hashlib.sha256((common + _digest_files([p for p in folder.rglob("*") if p.is_file()], folder))
                          .encode()).hexdigest()


def use_wal_if_sqlite(course: Course) -> None:
    """WAL lets readers and one writer work at once; the busy timeout in db_url queues the writers."""
    db = course.sqlite_file
    if db is not None and db.exists():
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def failure_reason(nbgrader_log: str) -> str:
    """What went wrong, from nbgrader's log of one student: the exception line of the last traceback in it
    (nbgrader logs "There was an error processing assignment", then the traceback indented by 4), else its last
    error line."""
    reason = None
    frame_indent = None  # a traceback is being read: its "File ..." lines' indentation (unknown: None)
    in_traceback = False
    for line in nbgrader_log.splitlines():
        if line.startswith("[") and "] " in line:  # a new log record: "[ERROR] text"
            text = line.split("] ", 1)[1]
            if not text.startswith("Traceback (most recent call last):"):
                in_traceback = False
                continue
        else:
            text = line
        stripped, indent = text.strip(), len(text) - len(text.lstrip())
        if stripped.startswith("Traceback (most recent call last):"):
            in_traceback, frame_indent = True, None
        elif not in_traceback or not stripped:
            continue
        elif frame_indent is None:
            frame_indent = indent
        elif indent < frame_indent:  # the exception line: less indented than the frames
            if not stripped.startswith(("During handling of the above", "The above exception was the direct")):
                reason = stripped
            in_traceback = False
    if reason:
        return reason
    errors = [line for line in nbgrader_log.splitlines() if "[ERROR]" in line or "[CRITICAL]" in line]
    return errors[-1] if errors else ""


_API = {}


def _start_worker(env: dict[str, str], log_dir: str, parent: int | None = None) -> None:
    """In a new worker: set the environment, and send its stdout and stderr, and its kernels', to a log file (kernels
    print start-up chatter there that would drown the progress lines; nbgrader's own log is kept per student).
    With `parent` (the pid that started the pool), the worker ends itself when that process is gone."""
    os.environ.update(env)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    log = open(Path(log_dir) / f"worker-{os.getpid()}.log", "a")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    if parent is not None:
        threading.Thread(target=_end_with_parent, args=(parent,), daemon=True, name="end-with-parent").start()


def _end_with_parent(parent: int, every: float = 1.0) -> None:
    """An orphaned worker would go on grading and writing the gradebook for a run that no longer exists (a killed
    `lab autograde`, a lost Dask worker whose students are being graded again elsewhere): it ends itself."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGKILL)


def _grade_one(course_root: str, assignment: str, student: str) -> StudentResult:
    """In a worker process: autograde one student with nbgrader's API (created once per worker)."""
    start = time.perf_counter()
    if course_root not in _API:
        from nbgrader.apps import NbGraderAPI

        os.chdir(course_root)
        _API[course_root] = NbGraderAPI(config=Course.load(course_root, assignment).config)
    try:
        outcome = _API[course_root].autograde(assignment, student, force=True, create=True)
    except Exception as exc:  # nbgrader normally reports errors in `outcome`; anything else is caught here
        outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - start
    graded = outcome.get("success") and (Path(course_root) / "autograded" / student / assignment).is_dir()
    detail = failure_reason(outcome.get("log") or "") or failure_reason(outcome.get("error") or "") \
        or (outcome.get("error") or "")[-2000:]
    return StudentResult(student, "graded" if graded else "failed", seconds, detail)


def grading_pool(workers: int, env: dict[str, str], log_dir: str) -> ProcessPool:
    """Worker processes that each grade one student at a time (spawned: a clean interpreter, no state shared with
    the caller), with `env` (inherited by the kernels they start) and their output in log_dir."""
    return ProcessPool(max_workers=workers, initializer=_start_worker, initargs=(env, log_dir, os.getpid()),
                       context=multiprocessing.get_context("spawn"))


def worker_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    return nbgrader_env({**WORKER_ENV, **(extra_env or {})})


def killed_worker_result(student: str, exc: ProcessExpired) -> StudentResult:
    """The student whose grading ended its worker process (student code can kill its kernel's parent when grading
    runs without the jail; or the system killed it, e.g. out of memory)."""
    code = exc.exitcode
    how = f"signal {signal.Signals(-code).name}" if code and code < 0 and -code in signal.valid_signals() \
        else f"exit status {code}"
    return StudentResult(student, "failed", 0.0,
                         f"grading this submission killed the grading process ({how}); no other student was affected")


def result_of(future, student: str) -> StudentResult:
    try:
        return future.result()
    except ProcessExpired as exc:
        return killed_worker_result(student, exc)
    except Exception as exc:  # the pool could not run the task at all (e.g. its worker could not start)
        return StudentResult(student, "failed", 0.0, f"{type(exc).__name__}: {exc}")


def _grade_all(course_root: Path, assignment: str, students: list[str], workers: int, grade=_grade_one,
               extra_env: dict[str, str] | None = None):
    """Yield one StudentResult per student as they finish.

    Each student is one task of a pebble process pool. A worker process that dies fails only the task it was
    running (pebble tracks which worker runs which task: ProcessExpired), the pool starts a new worker, and the
    other students go on in parallel, in flight or queued (concurrent.futures' pool would instead break and fail
    every pending student).
    """
    if not students:
        return
    pool = grading_pool(max(1, min(workers, len(students))), worker_env(extra_env),
                        str(course_root / "autograded" / ".logs"))
    finished = False
    try:
        futures = {pool.schedule(grade, args=(str(course_root), assignment, s)): s for s in students}
        for future in as_completed(futures):
            yield result_of(future, futures[future])
        finished = True
    finally:
        if finished:
            pool.close()
        else:  # interrupted (Ctrl-C, an error in the caller): the students still grading are abandoned
            pool.stop()
        pool.join()


def check_jail(allow_unsandboxed: bool = False) -> str | None:
    """None when grading here runs in the jail. Otherwise why not, when grading without it is allowed (asked for
    with AUTOGRADER_UNSANDBOXED=1, or allow_unsandboxed: the bundled example class, this repository's own code);
    raises jail.SandboxUnavailable when it is not."""
    from .jail.provisioner import require_registered

    require_registered()  # the grading kernel's launch is this package's entry point: installed?
    problem = jail.probe()
    if problem is None:
        return None
    if allow_unsandboxed or jail.unsandboxed_requested():
        return problem
    jail.require()  # raises, with the reason and the fix
    return problem


def autograde_class(course: Course | Path, assignment: str | None = None, students: list[str] | None = None,
                    workers: int | None = None, force: bool = False, progress=log.info,
                    allow_unsandboxed: bool = False, scheduler: str | None = None,
                    scheduler_file: str | Path | None = None) -> list[StudentResult]:
    """Grade the course's submissions (or only `students`). Raises jail.SandboxUnavailable, before touching any
    student, when the jail does not work here and grading without it was not allowed.

    With `scheduler` (a Dask scheduler's address, or cluster.FROM_DASK_CONFIG) or `scheduler_file`, the students
    are graded by that cluster's workers (autograder/cluster.py) instead of local processes: the jail is then
    checked on every worker, and cluster.ClusterSetupError is raised, before any student, when the gradebook is
    SQLite or the cluster cannot grade this course."""
    course = as_course(course, assignment)
    cluster = None
    if scheduler or scheduler_file:
        from .cluster import Cluster

        cluster = Cluster.connect(course, scheduler, scheduler_file)
    try:
        return _autograde(course, students, workers, force, progress, allow_unsandboxed, cluster)
    finally:
        if cluster is not None:
            cluster.close()


def _autograde(course: Course, students, workers, force, progress, allow_unsandboxed, cluster) -> list[StudentResult]:
    course_root, assignment = course.root, course.assignment
    unsandboxed_because = cluster.check_workers(allow_unsandboxed) if cluster else check_jail(allow_unsandboxed)
    students = course.submitted_students() if students is None else students
    workers = workers or os.cpu_count() or 1
    manifest_path = course_root / "autograded" / MANIFEST
    manifest = _read_manifest(manifest_path)
    # whether the jail was used is part of what a grade depends on: grades made without it are redone with it
    jail_state = "unsandboxed" if unsandboxed_because else "jail"
    common = hashlib.sha256(f"{grading_inputs_digest(course_root, assignment)}\n{jail_state}".encode()).hexdigest()
    digests = {s: submission_digest(course_root, assignment, s, common) for s in students}
    todo = [s for s in students if force or manifest.get(s) != digests[s]
            or not (course_root / "autograded" / s / assignment).is_dir()]
    results = [StudentResult(s, "skipped") for s in students if s not in todo]
    use_wal_if_sqlite(course)

    started = time.perf_counter()
    engine = cluster.describe() if cluster else f"{workers} workers"
    progress(f"{len(todo)} to grade, {len(results)} unchanged since the last run, {engine}")
    extra_env = {jail.UNSANDBOXED_FLAG: "1"} if unsandboxed_because else {}
    graded = cluster.grade(todo, extra_env) if cluster else _grade_all(course_root, assignment, todo, workers,
                                                                        extra_env=extra_env)
    for done, result in enumerate(graded, start=1):
        results.append(result)
        if result.status == "graded":
            manifest[result.student] = digests[result.student]
        else:
            manifest.pop(result.student, None)
        _write_manifest(manifest_path, manifest)  # after every student: an interrupted run resumes from here
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (len(todo) - done)
        bar = "#" * (20 * done // len(todo))
        on = f" on {result.where}" if result.where else ""
        progress(f"[{bar:<20}] {done}/{len(todo)} {result.student}: {result.status}{on} "
                 f"in {result.seconds:.1f}s, ETA {eta:.0f}s")
        if result.status == "failed":
            progress(f"  {result.student} failed: {result.detail.strip()[:500]}")
    # A submission without the expected notebook (missing, misnamed) gets a 0 and feedback saying what was found,
    # instead of no grade at all (nbgrader skips or fails such a folder).
    from .nbgrader_ext.missing import record_missing

    for student, notebook in record_missing(course):
        progress(f"{student}: no {notebook}.ipynb in the submission: recorded 0, feedback says why")
        for result in results:
            if result.student != student or result.status != "failed":
                continue
            submitted = course_root / "submitted" / student / assignment
            if not any(submitted.glob("*.ipynb")) or "No notebooks found" in result.detail:
                # nbgrader failed only because there was nothing to grade: the 0 and the feedback are the grade
                result.status = "graded"
                result.detail = f"no {notebook}.ipynb in the submission"
                manifest[student] = digests[student]
            else:
                result.detail += f"\n(and no {notebook}.ipynb in the submission)"
    _write_manifest(manifest_path, manifest)
    return sorted(results, key=lambda r: r.student)


def _read_manifest(path: Path) -> dict:
    """The digests of the last grading of each student; an unreadable file means: grade everyone again."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        log.warning("%s is unreadable: every student is graded again", path)
        return {}


def _write_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a crash never leaves half a manifest


def main(argv: list[str] | None = None) -> int:
    from .cli import main as cli_main

    return cli_main(["autograde", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
