"""Regenerate every derived file from its source: `python -m autograder.build [step ...]`.

Steps, in order:
  sources    source/<assignment>/NN_name.py (jupytext text)  ->  source/<assignment>/NN_name.ipynb
  release    nbgrader generate_assignment                      ->  release/<assignment>/
             and the students' nbgrader_config.py (autograder/student_config.py: Validate decides as grading)
  solutions  nbgrader generate_solution (executed)              ->  solutions/<assignment>/
  lessons    notebooks/NN_name.py, executed                    ->  notebooks/NN_name.ipynb

With no step named, all run. CI runs them all and fails when git is dirty afterwards; the tests regenerate
release/ and solutions/ in a scratch copy and compare with what is committed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from . import student_config
from .nbgrader_cli import run_nbgrader
from .notebook_text import build_notebook, write_notebook
from .paths import ASSIGNMENT, LESSONS, REPO, SOLUTIONS

LESSON_TIMEOUT_S = 600


def merge_streams(outputs: list) -> list:
    """Join consecutive stream outputs of the same name: a kernel under load splits one print into several
    chunks at random, which would make the same notebook serialise differently from run to run."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = previous["text"] + output["text"]
        else:
            merged.append(output)
    return merged


def scrub_volatile(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes on every run of the same notebook (execution timestamps, stream chunking)."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    return nb


def build_sources(course_root: Path = REPO, assignment: str = ASSIGNMENT) -> list[Path]:
    written = []
    for text in sorted((course_root / "source" / assignment).glob("[0-9]*.py")):
        out = text.with_suffix(".ipynb")
        write_notebook(build_notebook(text), out)
        written.append(out)
    return written


def build_release(course_root: Path = REPO, assignment: str = ASSIGNMENT) -> None:
    build_sources(course_root, assignment)
    run_nbgrader("generate_assignment", assignment, "--force", course_root=course_root, quiet=True)
    # Written after nbgrader, which copies no .py file from source/ (CourseDirectory.ignore keeps the text sources
    # out of the release): the students' settings for Validate, from this course's grading settings.
    student_config.write(course_root / "release" / assignment, course_root)


def build_solutions(course_root: Path = REPO, assignment: str = ASSIGNMENT, execute: bool = True) -> None:
    """Executed solution notebooks. execute=False gives the same cells without outputs (for fast comparisons)."""
    args = ["generate_solution", assignment, "--force"]
    if not execute:
        args.append("--GenerateSolution.preprocessors=['nbgrader.preprocessors.IncludeHeaderFooter',"
                    "'nbgrader.preprocessors.LockCells','nbgrader.preprocessors.ClearOutput',"
                    "'nbgrader.preprocessors.ClearMarkScheme']")
    run_nbgrader(*args, course_root=course_root, quiet=True)
    for path in sorted((course_root / SOLUTIONS.name / assignment).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        write_notebook(scrub_volatile(nb), path)


def execute_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: int = LESSON_TIMEOUT_S) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return scrub_volatile(nb)


def build_lessons(lessons_dir: Path = LESSONS, execute: bool = True) -> list[Path]:
    written = []
    for text in sorted(lessons_dir.glob("[0-9]*.py")):
        nb = build_notebook(text)
        if execute:
            nb = execute_notebook(nb, cwd=lessons_dir)
        out = text.with_suffix(".ipynb")
        write_notebook(nb, out)
        written.append(out)
    return written


STEPS = {"sources": build_sources, "release": build_release, "solutions": build_solutions, "lessons": build_lessons}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="*", help=f"steps to run, of {', '.join(STEPS)} (default: all)")
    steps = parser.parse_args(argv).steps or list(STEPS)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {unknown}; choose from {list(STEPS)}")
    for step in steps:
        print(f"[build] {step}", flush=True)
        STEPS[step]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
