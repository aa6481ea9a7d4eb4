"""Grading students in worker processes: the machinery `lab autograde` on one machine (autograder/autograde.py) and
on a Dask cluster (autograder/cluster.py) share.

A worker is a spawned process of a pebble pool that imports nbgrader once and grades one student at a time through
nbgrader's own Python API (`NbGraderAPI.autograde`, what Formgrader calls). Each worker starts with:
- an environment its kernels inherit (`worker_env`: torch and OpenMP with one thread, the environment's bin/ on PATH);
- its stdout and stderr, and its kernels', in a log file (nbgrader's own log is kept per student);
- the settings the command line adds to the course's configuration (`overrides`, a traitlets Config: for example
  `Jail.unsandboxed` for `--unsandboxed`), merged into what each student is graded with;
- a watch on the process that started it: orphaned, it ends itself.
A worker that dies fails only the student it was grading (pebble names it: ProcessExpired).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pebble import ProcessExpired, ProcessPool
from traitlets.config import Config

from .course import Course
from .nbgrader_cli import nbgrader_env

log = logging.getLogger(__name__)

# Small tensors, and N workers with several threads each would fight over the cores: one thread per kernel. Set in
# the environment because the kernels, processes the workers spawn, read them at start-up.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class StudentResult:
    student: str
    status: str  # "graded", "skipped" (unchanged since the last run) or "failed"
    seconds: float = 0.0
    detail: str = ""
    where: str = ""  # the Dask worker that graded it (cluster runs only)


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


# --- in a worker process ----------------------------------------------------------------------------------------

_API = {}  # course root -> nbgrader's API, created once per worker
_OVERRIDES = Config()  # what the command line adds to the course's configuration (start_worker)


def start_worker(env: dict[str, str], log_dir: str, parent: int | None = None,
                 overrides: Config | None = None) -> None:
    """In a new worker: set the environment its kernels inherit, and send its stdout and stderr, and its kernels',
    to a log file (kernels print start-up chatter there that would drown the progress lines). With `parent` (the pid
    that started the pool), the worker ends itself when that process is gone."""
    os.environ.update(env)  # this worker's own environment, before any kernel starts: what its kernels inherit
    _OVERRIDES.merge(overrides or Config())
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    out = open(Path(log_dir) / f"worker-{os.getpid()}.log", "a")
    os.dup2(out.fileno(), 1)
    os.dup2(out.fileno(), 2)
    if parent is not None:
        threading.Thread(target=end_with_parent, args=(parent,), daemon=True, name="end-with-parent").start()


def end_with_parent(parent: int, every: float = 1.0) -> None:
    """An orphaned worker would go on grading and writing the gradebook for a run that no longer exists (a killed
    `lab autograde`, a lost Dask worker whose students are being graded again elsewhere): it ends itself."""
    while os.getppid() == parent:
        time.sleep(every)
    os.kill(os.getpid(), signal.SIGKILL)


def grade_one(course_root: str, assignment: str, student: str) -> StudentResult:
    """In a worker process: autograde one student with nbgrader's API (created once per worker and course), with the
    course's configuration as nbgrader reads it (Course.load) plus the worker's overrides."""
    start = time.perf_counter()
    if course_root not in _API:
        from nbgrader.apps import NbGraderAPI

        os.chdir(course_root)
        config = Course.load(course_root, assignment).config
        config.merge(_OVERRIDES)
        _API[course_root] = NbGraderAPI(config=config)
    try:
        outcome = _API[course_root].autograde(assignment, student, force=True, create=True)
    except Exception as exc:  # nbgrader normally reports errors in `outcome`; anything else is caught here
        outcome = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
    seconds = time.perf_counter() - start
    graded = outcome.get("success") and (Path(course_root) / "autograded" / student / assignment).is_dir()
    detail = failure_reason(outcome.get("log") or "") or failure_reason(outcome.get("error") or "") \
        or (outcome.get("error") or "")[-2000:]
    return StudentResult(student, "graded" if graded else "failed", seconds, detail)


# --- in the process that hands out the students -----------------------------------------------------------------

def worker_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    return nbgrader_env({**WORKER_ENV, **(extra_env or {})})


def grading_pool(workers: int, log_dir: str, overrides: Config | None = None,
                 env: dict[str, str] | None = None) -> ProcessPool:
    """Worker processes that each grade one student at a time (spawned: a clean interpreter, no state shared with
    the caller), with worker_env(env), the configuration overrides, and their output in log_dir."""
    return ProcessPool(max_workers=workers, initializer=start_worker,
                       initargs=(worker_env(env), log_dir, os.getpid(), overrides or Config()),
                       context=multiprocessing.get_context("spawn"))


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
