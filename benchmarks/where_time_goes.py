"""Where a notebook's grading time goes: one grading process, as one worker of `lab autograde` (the zygote on),
grades a synthetic class one student after the other, and the time of each step is added up per notebook.

    .venv/bin/python benchmarks/where_time_goes.py --students 6

Steps: kernel start (the launcher, the zygote's fork and namespaces, ipykernel until its sockets are bound), ready
(kernel_info until the kernel is idle), the cells (the student's code and the in-kernel part of the checks; the
slowest cells are listed), the judge (probe data checked in the grading process), kernel shutdown, and the rest:
nbgrader's own work for the student (gradebook, reading, sanitizing and writing notebooks, its other
preprocessors). The first student, whose grading also starts the zygote, is graded but not counted. Times are
seconds per student (mean); on a shared machine, compare the parts with each other rather than with other runs.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from autograder.autograde import as_course, use_wal_if_sqlite
from autograder.grading import grade_one, worker_env
from autograder.jail.provisioner import ReadyKernelClient
from autograder.nbgrader_ext.execute import SandboxedExecute
from autograder.paths import ASSIGNMENT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_throughput import prepare, synthetic_class  # noqa: E402

STEPS = ("kernel start", "ready", "cells", "judge", "shutdown")
seconds: dict[tuple[str, str], float] = collections.defaultdict(float)  # (notebook, step) -> seconds
cells: dict[tuple[str, str], float] = collections.defaultdict(float)  # (notebook, cell) -> seconds
current = {"notebook": "?"}


def timed(cls, name: str, step: str) -> None:
    """Wraps cls.name (a coroutine function or a function) so that its time is added to `step` of the notebook being
    graded."""
    original = getattr(cls, name)

    if asyncio.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                seconds[current["notebook"], step] += time.perf_counter() - start
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[current["notebook"], step] += time.perf_counter() - start
    setattr(cls, name, wrapper)


def instrument() -> None:
    preprocess, preprocess_cell = SandboxedExecute.preprocess, SandboxedExecute.preprocess_cell

    def notebook(self, nb, resources=None, km=None):
        current["notebook"] = (resources or {}).get("unique_key", "?")
        return preprocess(self, nb, resources, km)

    def cell(self, cell, resources, index):
        start = time.perf_counter()
        try:
            return preprocess_cell(self, cell, resources, index)
        finally:
            spent = time.perf_counter() - start
            seconds[current["notebook"], "cells"] += spent
            label = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.source.split("\n", 1)[0][:50]
            cells[current["notebook"], f"cell {index}: {label}"] += spent

    SandboxedExecute.preprocess, SandboxedExecute.preprocess_cell = notebook, cell
    timed(AsyncKernelManager, "start_kernel", "kernel start")
    timed(ReadyKernelClient, "wait_for_ready", "ready")
    timed(SandboxedExecute, "_score_graded_cells", "judge")
    timed(AsyncKernelManager, "shutdown_kernel", "shutdown")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=6, help="students graded and counted (one more is graded "
                                                                 "first, uncounted)")
    parser.add_argument("--cells", type=int, default=8, help="how many of the slowest cells to list")
    args = parser.parse_args(argv)
    students = synthetic_class(args.students + 1)
    instrument()
    with tempfile.TemporaryDirectory(prefix="where-time-goes-") as tmp:
        root = Path(tmp) / "course"
        prepare(root, students)
        os.environ.update(worker_env())
        # the kernels write their start-up chatter to this process's stdout and stderr, as a worker's: to a log
        sys.stdout.flush()
        saved = os.dup(1)
        log = os.open(Path(tmp) / "kernels.log", os.O_WRONLY | os.O_CREAT)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout = open(saved, "w", buffering=1)
        use_wal_if_sqlite(as_course(root, ASSIGNMENT))
        first = grade_one(str(root), ASSIGNMENT, students[0].id)
        seconds.clear()
        cells.clear()
        total = 0.0
        for student in students[1:]:
            result = grade_one(str(root), ASSIGNMENT, student.id)
            if result.status != "graded":
                print(f"{student.id}: {result.status} {result.detail}", file=sys.stderr)
            total += result.seconds
    n = args.students
    notebooks = sorted({nb for nb, _ in seconds})
    print(f"{n} students graded one after the other in one grading process ({os.cpu_count()} CPU cores); the first, "
          f"uncounted, took {first.seconds:.1f} s (it also started the zygote). Seconds per student:")
    print(f"{'notebook':28s}" + "".join(f"{step:>14s}" for step in STEPS) + f"{'all':>10s}")
    for nb in notebooks:
        parts = [seconds[nb, step] / n for step in STEPS]
        print(f"{nb:28s}" + "".join(f"{p:14.3f}" for p in parts) + f"{sum(parts):10.3f}")
    steps = [sum(seconds[nb, step] for nb in notebooks) / n for step in STEPS]
    print(f"{'all notebooks':28s}" + "".join(f"{p:14.3f}" for p in steps) + f"{sum(steps):10.3f}")
    print(f"the rest (nbgrader's own work, per student): {total / n - sum(steps):.3f} s; "
          f"whole student: {total / n:.3f} s, {total / n / max(1, len(notebooks)):.3f} s per notebook")
    print("slowest cells (seconds per student):")
    for (nb, label), spent in sorted(cells.items(), key=lambda kv: -kv[1])[:args.cells]:
        print(f"  {spent / n:6.3f}  {nb}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
