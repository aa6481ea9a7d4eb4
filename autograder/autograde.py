"""Autograde a real class: every submission of the course this is run in, N at a time. `lab autograde`, in the
course root or with --course DIR.

nbgrader autogrades one notebook after another (nbgrader #174), and each notebook costs a fresh kernel and an
`import torch`. Here N worker processes each import nbgrader once (about 3.5 s saved per student compared with
one `nbgrader autograde --student` process per student) and grade one student at a time through nbgrader's own
Python API (`NbGraderAPI.autograde`, what Formgrader calls), so:
- a failing or crashing student is reported and the run goes on (an error is caught per student; a worker process
  that dies fails only the student it was grading, which pebble's process pool names, and is replaced while the
  others go on in parallel);
- each kernel runs torch with one thread (autograder/grading.py, the machinery shared with the Dask path);
- a re-run grades only students whose submission, the release or the checks changed (unless --force);
- the gradebook stays consistent: SQLite in WAL mode with a busy timeout (nbgrader_config.py), or a PostgreSQL
  URL (`c.CourseDirectory.db_url`) for several graders on several machines;
- grading starts only where the jail works (autograder.jail): otherwise it stops before any student is touched,
  saying why and what to install (or, on purpose, without it: --unsandboxed, or `c.Jail.unsandboxed = True`);
- with --scheduler tcp://HOST:8786 (or --scheduler-file FILE) each student is a task of a Dask cluster instead
  (autograder/cluster.py): the task carries the submission, a worker grades it with the same function as here
  (autograder/grading.py) and sends back the graded notebooks; the gradebook must then be PostgreSQL.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from concurrent.futures import as_completed
from pathlib import Path

from traitlets.config import Config

from . import jail
from .course import Course
from .digests import digest_files, grading_code_digest
from .grading import StudentResult, grade_one, grading_pool, result_of
from .nbgrader_ext.missing import record_missing

log = logging.getLogger(__name__)
MANIFEST = ".grading-manifest.json"


def as_course(course: Course | Path | str, assignment: str | None = None) -> Course:
    return course if isinstance(course, Course) else Course.load(course, assignment)


def grading_inputs_digest(course: Course | Path | str, assignment: str | None = None, jail_state: str = "jail") -> str:
    """What every student's grade depends on besides their own files: the release notebooks, the source
    notebooks (hidden tests live there and in the gradebook, not in release/), the course's configuration as
    nbgrader reads it (the Jupyter config path, the course's nbgrader_config.py, the command line: a hub's
    system-wide setting counts like the course's own), whether the jail is used, and the grading code
    (digests.grading_code_files: the engine, the probes, judges and provided code)."""
    course = as_course(course, assignment)
    course_files = [*(course.root / "release" / course.assignment).glob("*.ipynb"),
                    *(p for p in (course.root / "source" / course.assignment).glob("*") if p.is_file())]
    # Jail's settings say whether the jail may be skipped; whether it was is jail_state
    settings = json.dumps({k: v for k, v in course.config.items() if k != "Jail"}, sort_keys=True, default=repr)
    return digest_files(course_files, course.root, salt=f"{grading_code_digest()}\n{settings}\n{jail_state}")


def submission_digest(course_root: Path, assignment: str, student: str, common: str) -> str:
    folder = course_root / "submitted" / student / assignment
    return digest_files([p for p in folder.rglob("*") if p.is_file()], folder, salt=common)


def use_wal_if_sqlite(course: Course) -> None:
    """WAL lets readers and one writer work at once; the busy timeout in db_url queues the writers."""
    db = course.sqlite_file
    if db is not None and db.exists():
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def grade_all(course_root: Path, assignment: str, students: list[str], workers: int, grade=grade_one,
              overrides: Config | None = None):
    """Yield one StudentResult per student as they finish.

    Each student is one task of a pebble process pool. A worker process that dies fails only the task it was
    running (pebble tracks which worker runs which task: ProcessExpired), the pool starts a new worker, and the
    other students go on in parallel, in flight or queued (concurrent.futures' pool would instead break and fail
    every pending student).
    """
    if not students:
        return
    pool = grading_pool(max(1, min(workers, len(students))), str(course_root / "autograded" / ".logs"), overrides)
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


def check_jail(allow_unsandboxed: bool = False, config: Config | None = None) -> str | None:
    """None when grading here runs in the jail. Otherwise why not, when grading without it is allowed (asked for
    in the configuration, `Jail.unsandboxed`, or allow_unsandboxed: the bundled example class, this repository's own
    code); raises jail.SandboxUnavailable when it is not."""
    from .jail.provisioner import require_registered

    require_registered()  # the grading kernel's launch is this package's entry point: installed?
    problem = jail.probe()
    if problem is None:
        return None
    if allow_unsandboxed or jail.unsandboxed_requested(config):
        return problem
    jail.require(config)  # raises, with the reason and the fix
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
    unsandboxed_because = cluster.check_workers(allow_unsandboxed) if cluster else \
        check_jail(allow_unsandboxed, course.config)
    students = course.submitted_students() if students is None else students
    workers = workers or os.cpu_count() or 1
    manifest_path = course_root / "autograded" / MANIFEST
    manifest = _read_manifest(manifest_path)
    # whether the jail was used is part of what a grade depends on: grades made without it are redone with it
    common = grading_inputs_digest(course, jail_state="unsandboxed" if unsandboxed_because else "jail")
    digests = {s: submission_digest(course_root, assignment, s, common) for s in students}
    todo = [s for s in students if force or manifest.get(s) != digests[s]
            or not (course_root / "autograded" / s / assignment).is_dir()]
    results = [StudentResult(s, "skipped") for s in students if s not in todo]
    use_wal_if_sqlite(course)

    started = time.perf_counter()
    engine = cluster.describe() if cluster else f"{workers} workers"
    progress(f"{len(todo)} to grade, {len(results)} unchanged since the last run, {engine}")
    # what the command line set, and grading without the jail where that was allowed above: the workers' nbgrader
    # reads the course's configuration itself, plus these (SandboxedExecute checks the jail again)
    overrides = Config(course.overrides)
    if unsandboxed_because:
        overrides.merge(jail.unsandboxed_config())
    graded = cluster.grade(todo, overrides) if cluster else grade_all(course_root, assignment, todo, workers,
                                                                       overrides=overrides)
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

