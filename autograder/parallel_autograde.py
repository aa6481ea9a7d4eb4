"""Autograde a whole submissions folder with N parallel workers: `python -m autograder.parallel_autograde`.

nbgrader autogrades one notebook after another (nbgrader #174), and each notebook costs a fresh kernel and an
`import torch`. Here N worker processes each import nbgrader once (about 3.5 s saved per student compared with
one `nbgrader autograde --student` process per student) and grade one student at a time through nbgrader's own
Python API (`NbGraderAPI.autograde`, what Formgrader calls), so:
- a failing or crashing student is reported and the run goes on (an error is caught per student; a worker that
  dies is replaced and its student reported as failed);
- each kernel runs torch with one thread (OMP_NUM_THREADS=1): the checks use small tensors, and N workers with
  several threads each would fight over the cores;
- a re-run grades only students whose submission, the release or the checks changed (unless --force);
- the gradebook stays consistent: SQLite in WAL mode with a busy timeout (nbgrader_config.py), or any
  PostgreSQL URL in NBGRADER_DB_URL for several graders on several machines.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import multiprocessing
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from .course import course_config
from .nbgrader_cli import nbgrader_env
from .paths import ASSIGNMENT, REPO

MANIFEST = ".grading-manifest.json"
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class StudentResult:
    student: str
    status: str  # "graded", "skipped" (unchanged since the last run) or "failed"
    seconds: float = 0.0
    detail: str = ""


def _digest_files(paths: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def grading_inputs_digest(course_root: Path, assignment: str) -> str:
    """What every student's grade depends on besides their own files: the release notebooks, the source
    notebooks (hidden tests live there and in the gradebook, not in release/), the config, the checks and the
    sandbox that runs them."""
    files = [*(course_root / "release" / assignment).glob("*.ipynb"), *(course_root / "source" / assignment).glob("*"),
             course_root / "nbgrader_config.py", *(REPO / "autograder" / "checks").glob("*.py"),
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


def use_wal_if_sqlite(course_root: Path) -> None:
    """WAL lets readers and one writer work at once; the busy timeout in db_url queues the writers."""
    url = os.environ.get("NBGRADER_DB_URL")
    db = course_root / "gradebook.db"
    if url is None and db.exists():
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


_API = {}


def _start_worker(env: dict[str, str], log_dir: str) -> None:
    """In a new worker: set the environment, and send its stdout and stderr, and its kernels', to a log file (kernels
    print start-up chatter there that would drown the progress lines; nbgrader's own log is kept per student)."""
    os.environ.update(env)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    log = open(Path(log_dir) / f"worker-{os.getpid()}.log", "a")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)


def _grade_one(course_root: str, assignment: str, student: str) -> StudentResult:
    """In a worker process: autograde one student with nbgrader's API (created once per worker)."""
    start = time.perf_counter()
    if course_root not in _API:
        from nbgrader.apps import NbGraderAPI

        os.chdir(course_root)
        _API[course_root] = NbGraderAPI(config=course_config(Path(course_root)))
    try:
        outcome = _API[course_root].autograde(assignment, student, force=True, create=True)
    except Exception as exc:  # nbgrader normally reports errors in `outcome`; anything else is caught here
        outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - start
    log = outcome.get("log") or ""
    errors = [line for line in log.splitlines() if "[ERROR]" in line or "[CRITICAL]" in line]
    graded = outcome.get("success") and (Path(course_root) / "autograded" / student / assignment).is_dir()
    detail = "\n".join(errors[-5:]) or (outcome.get("error") or "")[-2000:]
    return StudentResult(student, "graded" if graded else "failed", seconds, detail)


def _grade_all(course_root: Path, assignment: str, students: list[str], workers: int, grade=_grade_one):
    """Yield one StudentResult per student as they finish.

    If a worker process dies (student code can kill its kernel's parent), every student in flight in that pool
    is a suspect: each is graded again alone, so only the one that kills its worker is reported as failed.
    """
    env = nbgrader_env(WORKER_ENV)  # inherited by the workers and the kernels they start
    setup = (env, str(course_root / "autograded" / ".logs"))
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no state shared with the caller
    suspects = []
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(students))), mp_context=context,
                             initializer=_start_worker, initargs=setup) as pool:
        futures = {pool.submit(grade, str(course_root), assignment, s): s for s in students}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                suspects.append(futures[future])
    for student in suspects:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_start_worker,
                                 initargs=setup) as pool:
            try:
                yield pool.submit(grade, str(course_root), assignment, student).result()
            except BrokenProcessPool:
                yield StudentResult(student, "failed", 0.0, "grading this submission killed the grading process")


def autograde_class(course_root: Path = REPO, assignment: str = ASSIGNMENT, students: list[str] | None = None,
                    workers: int | None = None, force: bool = False, progress=print) -> list[StudentResult]:
    submitted = course_root / "submitted"
    students = sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if students is None \
        else students
    workers = workers or os.cpu_count() or 1
    manifest_path = course_root / "autograded" / MANIFEST
    manifest = _read_manifest(manifest_path)
    common = grading_inputs_digest(course_root, assignment)
    digests = {s: submission_digest(course_root, assignment, s, common) for s in students}
    todo = [s for s in students if force or manifest.get(s) != digests[s]
            or not (course_root / "autograded" / s / assignment).is_dir()]
    results = [StudentResult(s, "skipped") for s in students if s not in todo]
    use_wal_if_sqlite(course_root)

    started = time.perf_counter()
    progress(f"[autograde] {len(todo)} to grade, {len(results)} unchanged since the last run, {workers} workers")
    for done, result in enumerate(_grade_all(course_root, assignment, todo, workers), start=1):
        results.append(result)
        if result.status == "graded":
            manifest[result.student] = digests[result.student]
        else:
            manifest.pop(result.student, None)
        _write_manifest(manifest_path, manifest)  # after every student: an interrupted run resumes from here
        elapsed = time.perf_counter() - started
        eta = elapsed / done * (len(todo) - done)
        bar = "#" * (20 * done // len(todo))
        progress(f"[autograde] [{bar:<20}] {done}/{len(todo)} {result.student}: {result.status} "
                 f"in {result.seconds:.1f}s, ETA {eta:.0f}s")
        if result.status == "failed":
            progress(f"[autograde]   {result.student} failed: {result.detail.strip()[:500]}")
    # A submission without the expected notebook (missing, misnamed) gets a 0 and feedback saying what was found,
    # instead of no grade at all (nbgrader skips or fails such a folder).
    from .nbgrader_ext.missing import record_missing

    config = course_config(course_root).CourseDirectory
    missing = record_missing(course_root, assignment, config.db_url, config.course_id)
    for student, notebook in missing:
        progress(f"[autograde] {student}: no {notebook}.ipynb in the submission: recorded 0, feedback says why")
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
        print(f"[autograde] {path} is unreadable: every student is graded again", file=sys.stderr)
        return {}


def _write_manifest(path: Path, manifest: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a crash never leaves half a manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--workers", "-j", type=int, default=None, help="parallel workers (default: CPU cores)")
    parser.add_argument("--force", action="store_true", help="regrade every student, changed or not")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    args = parser.parse_args(argv)
    results = autograde_class(assignment=args.assignment, students=args.student, workers=args.workers,
                              force=args.force)
    failed = [r.student for r in results if r.status == "failed"]
    print(f"[autograde] graded {sum(r.status == 'graded' for r in results)}, "
          f"skipped {sum(r.status == 'skipped' for r in results)}, failed {len(failed)} {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
