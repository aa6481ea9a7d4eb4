"""Grading on a Dask cluster: `lab autograde --scheduler tcp://HOST:8786` (or `--scheduler-file FILE`, or
`--scheduler` alone: the address in Dask's configuration, e.g. DASK_SCHEDULER_ADDRESS).

Each student is one Dask task, and the task carries what grading needs, as bytes: the student's submitted folder,
and (one task per run that each worker fetches once) the course's nbgrader_config.py, the assignment's release and
source folders and the gradebook's URL. A worker grades in a scratch course of its own with the same function and
the same process pool as a single machine (autograder/grading.py: `grade_one` in a pebble pool, so student code
that kills its grading process fails only its own student), writes the grades into the shared PostgreSQL
gradebook, and sends back the StudentResult and the files of the student's autograded folder. The submitting
command writes those into the course's autograded/, logs one progress line per student and keeps the manifest, so
feedback, the report and a re-run that grades only what changed work as after a run on one machine. The machines
share nothing but the gradebook and the scheduler.

Before any student is graded: the gradebook must be a server (an SQLite file cannot be shared by several machines),
the scheduler must answer and have a worker, and every worker must run the same grading code as this machine, have
the jail (or the run is unsandboxed on purpose) and be allowed to start processes: a worker started by a Dask nanny
is a daemonic process unless Dask's setting `distributed.worker.daemon` is False (DASK_DISTRIBUTED__WORKER__DAEMON=False
in its environment, or a Dask configuration file), and multiprocessing forbids a daemonic process children. A worker lost mid-task (its machine gone, the process killed)
has its students given to other workers by the scheduler (up to `distributed.scheduler.allowed-failures` times,
then the student is reported failed); the grading process of a lost worker ends itself (it notices its parent is
gone), nbgrader's autograde of a student replaces that student's earlier grades, and each student's result is
taken once, so a retried student is recorded once.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import threading
import uuid
from pathlib import Path

from traitlets.config import Config

from . import jail
from .course import CONFIG_FILE, Course
from .digests import grading_code_digest
from .grading import StudentResult, grade_one, grading_pool, result_of

log = logging.getLogger(__name__)

FROM_DASK_CONFIG = "dask-config"  # `--scheduler` without an address
CONNECT_TIMEOUT_S = 30
WORKER_WAIT_S = 120  # a batch system may start the workers after the command: wait this long for the first
QUEUED_MIN, QUEUED_PER_THREAD = 200, 4  # students submitted to the scheduler at a time (see Cluster.grade)
NOT_DAEMONIC = ("start the workers with Dask's setting distributed.worker.daemon = False "
                "(DASK_DISTRIBUTED__WORKER__DAEMON=False in their environment, or in a Dask configuration file; "
                "docs/grading-at-scale.md)")


class ClusterSetupError(RuntimeError):
    """The cluster cannot grade this course (found before any student was graded)."""


# --- what travels ------------------------------------------------------------------------------------------------

def _files_under(folder: Path) -> dict[str, tuple[int, bytes]]:
    """{relative path: (mode, bytes)} of every file under folder (none if it does not exist)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_mode & 0o777, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and not {"__pycache__", ".ipynb_checkpoints"} & set(p.parts)}


def _write_files(folder: Path, files: dict[str, tuple[int, bytes]]) -> None:
    for rel, (mode, data) in files.items():
        path = folder / rel
        if not path.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"refusing to write {rel!r} outside {folder}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode | 0o200)  # nbgrader makes graded files read-only; ours are replaced on the next run


def course_bundle(course: Course) -> dict:
    """What every worker needs of the course, once per run: its files, its nbgrader_config.py, and the settings
    as this machine read them (its Jupyter config path and the command line included, the root left to the
    worker), which the worker's grading processes add to their scratch course's, so that they grade with the same
    configuration as `lab autograde` here."""
    files = {}
    for name in ("release", "source"):
        for rel, content in _files_under(course.folder(name) / course.assignment).items():
            files[f"{name}/{course.assignment}/{rel}"] = content
    settings = copy.deepcopy(course.config)
    settings.CourseDirectory.pop("root", None)
    bundle = {"assignment": course.assignment, "config": (course.root / CONFIG_FILE).read_bytes(),
              "db_url": course.db_url, "settings": settings, "files": files, "code": grading_code_digest()}
    h = hashlib.sha256(repr((bundle["config"], bundle["db_url"], sorted(files.items()))).encode())
    bundle["digest"] = h.hexdigest()
    return bundle


def _identity(value):
    return value


def _write_autograded(course: Course, student: str, files: dict[str, tuple[int, bytes]]) -> None:
    """Replace the student's autograded folder with what the worker graded (nothing: nbgrader failed and removed it,
    as on one machine)."""
    dest = course.folder("autograded") / student / course.assignment
    incoming = dest.parent / f".{course.assignment}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    if files:
        incoming.mkdir(parents=True)
        _write_files(incoming, files)
    shutil.rmtree(dest, ignore_errors=True)
    if files:
        incoming.rename(dest)


# --- the submitting side -----------------------------------------------------------------------------------------

class Cluster:
    """A connection to a Dask scheduler that grades one course."""

    def __init__(self, client, course: Course):
        self.client, self.course = client, course

    @classmethod
    def connect(cls, course: Course, scheduler: str | None = None, scheduler_file: str | Path | None = None,
                worker_wait_s: float = WORKER_WAIT_S) -> "Cluster":
        if course.sqlite_file is not None:
            raise ClusterSetupError(
                f"the gradebook is SQLite ({course.db_url}): Dask workers on several machines cannot share that "
                "file. Grading on a cluster needs a gradebook server: set c.CourseDirectory.db_url = "
                "'postgresql+psycopg2://USER@HOST/DB' in the course's nbgrader_config.py (docs/grading-at-scale.md) "
                "and run `lab build` once to record the assignment there. Nothing was graded.")
        import dask
        from distributed import Client

        if scheduler_file:
            where, options = f"the scheduler file {scheduler_file}", {"scheduler_file": str(scheduler_file)}
        else:
            address = dask.config.get("scheduler-address", None) if scheduler == FROM_DASK_CONFIG else scheduler
            if not address:
                raise ClusterSetupError("--scheduler without an address reads Dask's configuration (scheduler-address,"
                                        " e.g. DASK_SCHEDULER_ADDRESS=tcp://HOST:8786), which names none here")
            where, options = address, {"address": address}
        try:
            client = Client(**options, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterSetupError(f"could not reach the Dask scheduler ({where}): {exc}. Nothing was graded.") \
                from exc
        try:
            client.wait_for_workers(1, timeout=worker_wait_s)
        except (TimeoutError, OSError) as exc:
            client.close()
            raise ClusterSetupError(f"the Dask scheduler ({where}) has no worker after {worker_wait_s:.0f}s: start "
                                    "some (README: \"Grading on a cluster\"). Nothing was graded.") from exc
        return cls(client, course)

    def close(self) -> None:
        self.client.close()

    def workers(self) -> dict:
        try:
            return self.client.scheduler_info(n_workers=-1)["workers"]  # newer Dask lists 5 unless told
        except TypeError:
            return self.client.scheduler_info()["workers"]

    def threads(self) -> int:
        return sum(w.get("nthreads", 1) for w in self.workers().values())

    def describe(self) -> str:
        return f"{len(self.workers())} Dask workers ({self.threads()} at a time) at {self.client.scheduler.address}"

    def check_workers(self, allow_unsandboxed: bool = False) -> str | None:
        """What autograde.check_jail says for one machine, for every worker: None when all grade in the jail, or
        why not when grading without it is allowed; raises when a worker runs other grading code, cannot start the
        grading processes, or has no jail and grading without it was not asked for (the course's Jail.unsandboxed,
        or --unsandboxed)."""
        facts = self.client.run(worker_facts)
        code = grading_code_digest()
        other_code = sorted(addr for addr, f in facts.items() if f["code"] != code)
        if other_code:
            raise ClusterSetupError(
                f"worker(s) {', '.join(other_code)} run other grading code than this machine (another commit, changed "
                "files, or other versions of torch/nbgrader): every worker needs this repository at the same commit, "
                "set up with `make setup`. Nothing was graded.")
        unregistered = sorted(addr for addr, f in facts.items() if f["provisioner"])
        if unregistered:
            raise ClusterSetupError(f"worker(s) {', '.join(unregistered)}: {facts[unregistered[0]]['provisioner']}")
        daemonic = sorted(addr for addr, f in facts.items() if f["daemonic"])
        if daemonic:
            raise ClusterSetupError(
                f"worker(s) {', '.join(daemonic)} run as daemonic processes (a Dask nanny's default), which may not "
                f"start the grading processes: {NOT_DAEMONIC}. Nothing was graded.")
        no_jail = {addr: f["jail"] for addr, f in facts.items() if f["jail"]}
        if not no_jail:
            return None
        problem = "; ".join(f"{addr}: {why}" for addr, why in sorted(no_jail.items()))
        if allow_unsandboxed or jail.unsandboxed_requested(self.course.config):
            return f"no jail on worker(s) {problem}"
        raise jail.SandboxUnavailable(
            f"REFUSING TO GRADE: the grading jail is unavailable on Dask worker(s) {problem}. Student code would run "
            f"with the grader's rights there. {jail.ENABLE_JAIL} on every worker; or grade unsandboxed on purpose "
            f"(--unsandboxed).")

    def grade(self, students: list[str], overrides: Config | None = None):
        """Yield one StudentResult per student as the workers finish them, after writing each one's graded files into
        the course's autograded/. `overrides`: what the command adds to the course's configuration for this run.

        A task holds its student's files until it is done (so that the scheduler can give it to another worker), so
        at most max(QUEUED_MIN, QUEUED_PER_THREAD x the cluster's threads) students are submitted at a time: enough
        queued work for new workers (and dask-jobqueue's adapt) to pick up, without every submission of a large
        class held in the scheduler's memory."""
        from distributed import as_completed

        if not students:
            return
        run = uuid.uuid4().hex[:8]
        course = self.course
        bundle = self.client.submit(_identity, course_bundle(course), key=f"course-bundle-{run}", pure=False)
        queue, futures = iter(students), {}
        done = as_completed(loop=self.client.loop)

        def submit_more():
            window = max(QUEUED_MIN, QUEUED_PER_THREAD * self.threads())
            while len(futures) < window and (student := next(queue, None)) is not None:
                files = _files_under(course.folder("submitted") / student / course.assignment)
                future = self.client.submit(grade_remote, bundle, student, files, Config(overrides or {}),
                                            key=f"grade-{student}-{run}", pure=False)
                futures[future] = student
                done.add(future)

        try:
            submit_more()
            for future in done:
                student = futures.pop(future)
                result, files = self._outcome(future, student)
                future.release()
                if files is not None:
                    _write_autograded(course, student, files)
                submit_more()
                yield result
        finally:
            self.client.cancel([bundle, *futures])

    @staticmethod
    def _outcome(future, student: str) -> tuple[StudentResult, dict | None]:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            return StudentResult(student, "failed", 0.0, f"every Dask worker that graded this student died "
                                 f"(distributed.scheduler.allowed-failures reached): {exc}"), None
        except Exception as exc:  # the task could not run (the scheduler was lost, it was cancelled...)
            return StudentResult(student, "failed", 0.0, f"Dask: {type(exc).__name__}: {exc}"), None


# --- the worker side ---------------------------------------------------------------------------------------------

def worker_facts() -> dict:
    """Run on every worker before grading (client.run): what decides whether it may grade this run."""
    from .jail.provisioner import ProvisionerNotRegistered, require_registered

    try:
        require_registered()
        provisioner = None
    except ProvisionerNotRegistered as exc:
        provisioner = str(exc)
    return {"code": grading_code_digest(), "jail": jail.probe(), "provisioner": provisioner,
            "daemonic": multiprocessing.current_process().daemon}


_LOCK = threading.Lock()
_POOLS: dict = {}  # (scratch course, environment) -> the pebble pool of this Dask worker process


def _scratch_course(local_directory: str, bundle: dict) -> Path:
    """The course as the submitting machine has it (config, release, source), in this worker's own folder, with the
    gradebook the run uses (as the submitting machine read it, its Jupyter config path included)."""
    root = Path(local_directory) / f"course-{bundle['digest'][:16]}"
    with _LOCK:
        if not (root / CONFIG_FILE).is_file():
            _write_files(root, bundle["files"])
            config = bundle["config"] + (
                "\n\n# Added by autograder.cluster on a Dask worker: this scratch copy and the run's gradebook.\n"
                f"c.CourseDirectory.root = {str(root)!r}\nc.CourseDirectory.db_url = {bundle['db_url']!r}\n").encode()
            (root / CONFIG_FILE).write_bytes(config)
    return root


def _worker_pool(root: Path, overrides: Config, nthreads: int):
    """This Dask worker's grading processes for one course and settings. The worker must not be daemonic (checked
    before grading: Cluster.check_workers): what Dask's daemon flag protects against, children left behind when the
    worker dies, cannot happen here, since the grading processes end themselves once their parent is gone
    (grading.end_with_parent)."""
    key = (str(root), json.dumps(overrides, sort_keys=True, default=repr))
    with _LOCK:
        if key not in _POOLS:
            for old in _POOLS.values():  # another run (other course or settings): its workers are not needed
                old.close()
            _POOLS.clear()
            _POOLS[key] = grading_pool(max(1, nthreads), str(root / "autograded" / ".logs"), overrides)
        return _POOLS[key]


def grade_remote(bundle: dict, student: str, files: dict[str, tuple[int, bytes]], run_overrides: Config):
    """A Dask task: grade one student on this worker; return (StudentResult, the autograded folder's files)."""
    from distributed import get_worker

    worker = get_worker()
    where = str(worker.name)
    if bundle["code"] != grading_code_digest():
        return StudentResult(student, "failed", 0.0, f"Dask worker {where} runs other grading code than the "
                             "submitting machine: it needs this repository at the same commit (`make setup`)", where), None
    if multiprocessing.current_process().daemon:
        return StudentResult(student, "failed", 0.0, f"Dask worker {where} is a daemonic process, which may not "
                             f"start grading processes: {NOT_DAEMONIC}", where), None
    overrides = copy.deepcopy(bundle["settings"])
    overrides.merge(run_overrides)
    problem = jail.probe()
    if problem and not jail.unsandboxed_requested(overrides):
        return StudentResult(student, "failed", 0.0, f"no grading jail on Dask worker {where}: {problem}", where), None
    assignment = bundle["assignment"]
    root = _scratch_course(worker.local_directory, bundle)
    submitted = root / "submitted" / student
    graded = root / "autograded" / student
    for folder in (submitted, graded):
        shutil.rmtree(folder, ignore_errors=True)
    try:
        _write_files(submitted / assignment, files)
        pool = _worker_pool(root, overrides, worker.state.nthreads)
        result = result_of(pool.schedule(grade_one, args=(str(root), assignment, student)), student)
        output = _files_under(graded / assignment)
    finally:
        for folder in (submitted, graded):
            shutil.rmtree(folder, ignore_errors=True)
    result.where = where
    log.info("graded %s on %s: %s (pid %d)", student, where, result.status, os.getpid())
    return result, output
