"""Grading throughput: plain sequential `nbgrader autograde` vs autograder.autograde (`lab autograde`), side by side.

    .venv/bin/python benchmarks/grading_throughput.py --students 12

Builds a synthetic class (the example class's answers, cycled, under new student ids) in scratch copies of the
course and grades the same class four ways, one after the other in this one process, on the same machine:
  1. plain sequential `nbgrader autograde` with this course's configuration, as it was before the zygote
     (sandbox, immediate kernel shutdown, `SandboxedExecute.fast_start = False`: Python and torch per notebook);
  2. plain sequential `nbgrader autograde` with nbgrader's defaults (its Execute: no sandbox, graceful shutdown);
  3. plain sequential `nbgrader autograde` with this course's configuration as it is (the zygote on);
  4. `lab autograde` (parallel workers, the zygote on).
It prints notebooks per minute for each and the ratios of 4 against 1, 2 and 3, and of 3 against 1. Compare ratios, not
absolute numbers: shared machines are noisy.
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


NBGRADER_DEFAULTS = [  # nbgrader's own autograde preprocessors and exporter: what `nbgrader autograde` runs
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.Execute",
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.IgnorePattern",
    "--Autograde.autograde_preprocessors=nbconvert.preprocessors.ClearMetadataPreprocessor",
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.LimitOutput",
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.SaveAutoGrades",
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.AssignLatePenalties",
    "--Autograde.autograde_preprocessors=nbgrader.preprocessors.CheckCellMetadata",
    "--Autograde.exporter_class=nbconvert.exporters.NotebookExporter"]
SEQUENTIAL = {
    "nbgrader, course config, no zygote": ["--SandboxedExecute.fast_start=False"],
    "nbgrader, nbgrader's defaults": NBGRADER_DEFAULTS,
    "nbgrader, course config (zygote)": [],
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    students = synthetic_class(args.students)
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        roots = {name: Path(tmp) / f"run{i}" for i, name in enumerate([*SEQUENTIAL, "parallel"])}
        for root in roots.values():
            notebooks = prepare(root, students)
        print(f"{args.students} students x {notebooks // args.students} notebooks = {notebooks} notebooks; "
              f"{os.cpu_count()} CPU cores", flush=True)

        for name, extra in SEQUENTIAL.items():
            start = time.perf_counter()
            run_nbgrader("autograde", ASSIGNMENT, *extra, course_root=roots[name], quiet=True)
            seconds = time.perf_counter() - start
            rates[name] = notebooks / seconds * 60
            print(f"{name + ' (sequential):':52s} {seconds:7.1f} s  {rates[name]:6.1f} notebooks/min", flush=True)

        start = time.perf_counter()
        results = autograde_class(roots["parallel"], ASSIGNMENT, workers=args.workers, progress=lambda line: None)
        seconds = time.perf_counter() - start
        rates["parallel"] = notebooks / seconds * 60
        failed = [r.student for r in results if r.status != "graded"]
        print(f"{f'lab autograde, {args.workers} workers (zygote):':52s} {seconds:7.1f} s  "
              f"{rates['parallel']:6.1f} notebooks/min" + (f"  (failed: {failed})" if failed else ""))
    base, defaults, seq_zygote = (rates[name] for name in SEQUENTIAL)
    print(f"ratio lab autograde / nbgrader with the course config, no zygote: {rates['parallel'] / base:.2f}x")
    print(f"ratio lab autograde / nbgrader with nbgrader's defaults:           {rates['parallel'] / defaults:.2f}x")
    print(f"ratio lab autograde / nbgrader with the course config (zygote):  {rates['parallel'] / seq_zygote:.2f}x")
    print(f"ratio nbgrader (zygote) / nbgrader (no zygote), both sequential:  {seq_zygote / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
