"""The main job: grade the bundled example class end to end. `python -m autograder.grade` (or `make grade`).

1. regenerate release/ from source/ (nbgrader generate_assignment, in the repository);
2. set up the example course in example_course/ (its own nbgrader course root and gradebook, so the example
   students never mix with a real class graded from the repository root), and write the example class's
   submissions there (autograder/example_class/class.toml);
3. autograde them in parallel (autograder.parallel_autograde): a re-run regrades only what changed;
4. write per-student HTML feedback, grades.csv, and the instructor's report;
5. print a table of students x notebooks and where each output went.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from . import example_class, report
from .build import build_release
from .course import copy_course, course_config
from .nbgrader_cli import run_nbgrader
from .parallel_autograde import autograde_class
from .paths import ASSIGNMENT, REPO


EXAMPLE_COURSE = REPO / "example_course"


def _snapshot(folder: Path, pattern: str) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in folder.glob(pattern))


def prepare_example_course(example_root: Path, repo: Path, assignment: str) -> None:
    """example_root becomes a course with the repository's config, sources and release, and a gradebook that
    knows the assignment (and its hidden tests, which nbgrader takes from the gradebook when grading).

    nbgrader refuses to regenerate an assignment that has submissions once its notebooks changed, so an example
    course whose sources or release differ from the repository's is rebuilt from scratch: everything in it is
    derived from the repository. An external gradebook (NBGRADER_DB_URL) is never reset: there the sources are
    refreshed and nbgrader's own refusal, if any, stands."""
    sources, release = repo / "source" / assignment, repo / "release" / assignment
    copied_sources, copied_release = example_root / "source" / assignment, example_root / "release" / assignment
    stale = example_root.exists() and (
        _snapshot(copied_sources, "*.py") != _snapshot(sources, "*.py")
        or _snapshot(copied_release, "*.ipynb") != _snapshot(release, "*.ipynb"))
    if stale and "NBGRADER_DB_URL" not in os.environ:
        shutil.rmtree(example_root)
    if example_root.exists():
        shutil.copy(repo / "nbgrader_config.py", example_root)
        shutil.copytree(repo / "source", example_root / "source", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    else:
        copy_course(example_root, repo)
    build_release(example_root, assignment)


def grade_example_class(example_root: Path = EXAMPLE_COURSE, repo: Path = REPO, assignment: str = ASSIGNMENT,
                        workers: int | None = None, force: bool = False, only: list[str] | None = None) -> dict:
    """Grade the example class (or only the students named in `only`) in the course root example_root."""
    t0 = time.perf_counter()
    print("[grade] regenerating release/ from source/", flush=True)
    build_release(repo, assignment)
    prepare_example_course(example_root, repo, assignment)
    course_root = example_root
    roster = [s for s in example_class.load_class() if only is None or s.id in only]
    students = example_class.write_submissions(course_root, roster, assignment=assignment,
                                               release=course_root / "release")
    print(f"[grade] {len(students)} submissions written to submitted/", flush=True)
    results = autograde_class(course_root, assignment, students, workers=workers, force=force,
                              progress=lambda line: print(line, flush=True))
    print("[grade] writing feedback and grades.csv", flush=True)
    run_nbgrader("generate_feedback", assignment, "--force", course_root=course_root, quiet=True)
    grades_csv = course_root / "grades.csv"
    run_nbgrader("export", f"--CsvExportPlugin.to={grades_csv}", course_root=course_root, quiet=True)
    config = course_config(course_root)
    scores = report.read_scores(config.CourseDirectory.db_url, config.CourseDirectory.course_id, assignment)
    failures = report.check_failures(course_root / "autograded", assignment)
    outputs = report.write_report(scores, failures, course_root / "reports")
    print()
    print(report.score_table(scores))
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"\n[grade] {r.student}: grading failed: {r.detail.strip()[:300]}")
    print(f"""
[grade] done in {time.perf_counter() - t0:.0f}s
  gradebook        {config.CourseDirectory.db_url}
  grades           {grades_csv}
  feedback         {course_root / 'feedback'}/<student>/{assignment}/<notebook>.html
  autograded       {course_root / 'autograded'}/<student>/{assignment}/
  report (PNG)     {outputs['png']}
  check failures   {outputs['csv']}""")
    return {"scores": scores, "results": results, "outputs": outputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", "-j", type=int, default=None, help="parallel graders (default: CPU cores)")
    parser.add_argument("--force", action="store_true", help="regrade every submission, changed or not")
    args = parser.parse_args(argv)
    result = grade_example_class(workers=args.workers, force=args.force)
    return 1 if any(r.status == "failed" for r in result["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
