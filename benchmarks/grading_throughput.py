"""Grading throughput: plain sequential `nbgrader autograde` vs autograder.autograde (`lab autograde`), side by side.

    .venv/bin/python benchmarks/grading_throughput.py --students 40

Builds a synthetic class (the example class's answers, cycled, under new student ids) in two scratch copies of
the course, grades one with nbgrader's own sequential command and the other with the parallel command, and
prints notebooks per minute for each and their ratio. Both run in this one process, one after the other, on the
same machine: compare the ratio, not the absolute numbers (shared machines are noisy).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from autograder import example_class
from autograder.build import build_release
from autograder.course import copy_course
from autograder.nbgrader_cli import run_nbgrader
from autograder.autograde import autograde_class
from autograder.paths import ASSIGNMENT


def synthetic_class(n: int) -> list[example_class.Student]:
    roster = example_class.load_class()
    return [replace(roster[i % len(roster)], id=f"{roster[i % len(roster)].id}{i:03d}") for i in range(n)]


def prepare(root: Path, students) -> int:
    copy_course(root)
    build_release(root)
    example_class.write_submissions(root, students, release=root / "release")
    return len(students) * len(list((root / "release" / ASSIGNMENT).glob("*.ipynb")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    students = synthetic_class(args.students)
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        plain_root, parallel_root = Path(tmp) / "plain", Path(tmp) / "parallel"
        notebooks = prepare(plain_root, students)
        prepare(parallel_root, students)
        print(f"{args.students} students x {notebooks // args.students} notebooks = {notebooks} notebooks; "
              f"{os.cpu_count()} CPU cores", flush=True)

        start = time.perf_counter()
        run_nbgrader("autograde", ASSIGNMENT, course_root=plain_root, quiet=True)
        plain = time.perf_counter() - start
        print(f"plain nbgrader autograde (sequential): {plain:7.1f} s  {notebooks / plain * 60:6.1f} notebooks/min",
              flush=True)

        start = time.perf_counter()
        results = autograde_class(parallel_root, ASSIGNMENT, workers=args.workers, progress=lambda line: None)
        parallel = time.perf_counter() - start
        failed = [r.student for r in results if r.status != "graded"]
        print(f"parallel_autograde, {args.workers} workers:     {parallel:7.1f} s  "
              f"{notebooks / parallel * 60:6.1f} notebooks/min" + (f"  (failed: {failed})" if failed else ""))
        print(f"ratio (parallel / plain throughput): {plain / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
