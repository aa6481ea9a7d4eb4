"""Autograde a whole submissions folder with N parallel workers: `python -m autograder.parallel_autograde`.

nbgrader autogrades one notebook after another (nbgrader #174), and each notebook costs a fresh kernel and an
`import torch`. Here every student is graded by their own `nbgrader autograde <assignment> --student <id>`
process, N at a time, so:
- a failing or crashing student is reported and the run goes on (failures are isolated per process);
- a re-run grades only students whose submission, the release or the checks changed (unless --force);
- the gradebook stays consistent: SQLite in WAL mode with a busy timeout (nbgrader_config.py), or any
  PostgreSQL URL in NBGRADER_DB_URL for several graders on several machines.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .nbgrader_cli import run_nbgrader
from .paths import ASSIGNMENT, REPO

MANIFEST = ".grading-manifest.json"
STUDENT_TIMEOUT_S = 30 * 60  # a hard cap per student; the per-cell limit (nbgrader_config.py) normally acts first


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
    """What every student's grade depends on besides their own files: release, config, and the checks."""
    files = [*(course_root / "release" / assignment).glob("*.ipynb"), course_root / "nbgrader_config.py",
             *(REPO / "autograder" / "checks").glob("*.py")]
    h = hashlib.sha256()
    for path in sorted(p for p in files if p.is_file()):
        h.update(path.name.encode())
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


def autograde_class(course_root: Path = REPO, assignment: str = ASSIGNMENT, students: list[str] | None = None,
                    workers: int | None = None, force: bool = False, progress=print) -> list[StudentResult]:
    submitted = course_root / "submitted"
    students = sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir()) if students is None \
        else students
    workers = workers or os.cpu_count() or 1
    manifest_path = course_root / "autograded" / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() and not force else {}
    common = grading_inputs_digest(course_root, assignment)
    digests = {s: submission_digest(course_root, assignment, s, common) for s in students}
    todo = [s for s in students if force or manifest.get(s) != digests[s]
            or not (course_root / "autograded" / s / assignment).is_dir()]
    results = [StudentResult(s, "skipped") for s in students if s not in todo]
    use_wal_if_sqlite(course_root)

    def grade(student: str) -> StudentResult:
        start = time.perf_counter()
        try:
            proc = run_nbgrader("autograde", assignment, "--student", student, "--force", course_root=course_root,
                                check=False, quiet=True, timeout=STUDENT_TIMEOUT_S)
        except TimeoutError as exc:
            return StudentResult(student, "failed", time.perf_counter() - start, str(exc))
        seconds = time.perf_counter() - start
        log = (proc.stdout or "") + (proc.stderr or "")
        errors = [line for line in log.splitlines() if "[ERROR]" in line or "[CRITICAL]" in line]
        if proc.returncode != 0 or not (course_root / "autograded" / student / assignment).is_dir():
            return StudentResult(student, "failed", seconds, "\n".join(errors[-5:]) or log[-2000:])
        return StudentResult(student, "graded", seconds, "\n".join(errors[-5:]))

    started = time.perf_counter()
    progress(f"[autograde] {len(todo)} to grade, {len(results)} unchanged since the last run, {workers} workers")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(grade, s): s for s in todo}
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results.append(result)
            if result.status == "graded":
                manifest[result.student] = digests[result.student]
            else:
                manifest.pop(result.student, None)
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (len(todo) - done)
            bar = "#" * (20 * done // len(todo))
            progress(f"[autograde] [{bar:<20}] {done}/{len(todo)} {result.student}: {result.status} "
                     f"in {result.seconds:.1f}s, ETA {eta:.0f}s")
            if result.status == "failed":
                progress(f"[autograde]   {result.student} failed: {result.detail.strip()[:500]}")
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return sorted(results, key=lambda r: r.student)


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
