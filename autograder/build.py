"""Regenerate every derived file from its source: `lab build [step ...] [--course DIR] [--force]`.

Steps, in order:
  sources    source/<assignment>/NN_name.py (jupytext text)  ->  source/<assignment>/NN_name.ipynb
  release    nbgrader generate_assignment                      ->  release/<assignment>/
             and the students' nbgrader_config.py (autograder/student_config.py: Validate decides as grading)
  solutions  nbgrader generate_solution (executed)              ->  solutions/<assignment>/
  lessons    notebooks/NN_name.py, executed                    ->  notebooks/NN_name.ipynb

With no step named, all run, on the course in the current directory (or --course DIR), like nbgrader's commands.

Executed notebooks (solutions, lessons) are re-executed only when their inputs changed: the text source, the
provided files it includes, the checks and judges its hidden tests run, and the environment (requirements.lock).
Their digests are kept in the course's `.build-stamps.json`, which is COMMITTED with the notebooks it describes:
a clean checkout then has the stamps of its own notebooks, and `make build` there re-executes nothing, so timings
and figures that differ from run to run are not rewritten and `git status` stays clean. `--force` re-executes all.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import nbformat

from . import student_config
from .nbgrader_cli import run_nbgrader
from .notebook_text import build_notebook, write_notebook
from .digests import PACKAGE, digest_files
from .protocol import HIDDEN_TEST_LINE
from .paths import ASSIGNMENT, LESSONS, REPO, SOLUTIONS

log = logging.getLogger(__name__)

LESSON_TIMEOUT_S = 600
STAMPS = ".build-stamps.json"  # at the course root, committed (see the module's docstring)
INCLUDE = re.compile(r'^# %%.*\binclude="([^"]+)"', re.M)


def notebook_inputs(text: Path) -> list[Path]:
    """What an executed notebook's outputs depend on, besides nbgrader and the kernel: its text source, the
    provided files it includes, the check and judge modules its hidden tests run (with their shared code), and
    the environment's lock."""
    source = text.read_text()
    paths = [text, REPO / "requirements.lock"] + [REPO / p for p in INCLUDE.findall(source)]
    runs = {(run["package"], run["module"]) for run in HIDDEN_TEST_LINE.finditer(source)}
    for package, module in sorted(runs):
        for side in ("checks", "judges"):
            folder = REPO / package / side
            paths += [folder / f"{module}.py", *sorted(folder.glob("_*.py"))]
    if runs:  # the engine's side of every check: probes, wire, judges' base, line format
        paths += [PACKAGE / name for name in ("probing.py", "wire.py", "judging.py", "protocol.py")]
    return sorted(set(paths))


def inputs_digest(text: Path) -> str:
    return digest_files(notebook_inputs(text), REPO)


class Stamps:
    """The digests of the inputs each executed notebook was built from (course_root/.build-stamps.json)."""

    def __init__(self, course_root: Path):
        self.path = course_root / STAMPS
        self.root = course_root
        self.data = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def current(self, output: Path, text: Path) -> bool:
        """True when `output` exists and was built from the inputs `text` has now."""
        key = output.relative_to(self.root).as_posix()
        return output.is_file() and self.data.get(key) == inputs_digest(text)

    def record(self, output: Path, text: Path) -> None:
        self.data[output.relative_to(self.root).as_posix()] = inputs_digest(text)
        self.path.write_text(json.dumps(dict(sorted(self.data.items())), indent=1) + "\n")


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


def build_solutions(course_root: Path = REPO, assignment: str = ASSIGNMENT, execute: bool = True,
                    force: bool = False) -> list[str]:
    """Executed solution notebooks, each only when its inputs changed (or `force`); returns the names executed.
    execute=False gives every notebook's cells without outputs (for fast comparisons), stamps untouched."""
    args = ["generate_solution", assignment, "--force"]
    if not execute:
        args.append("--GenerateSolution.preprocessors=['nbgrader.preprocessors.IncludeHeaderFooter',"
                    "'nbgrader.preprocessors.LockCells','nbgrader.preprocessors.ClearOutput',"
                    "'nbgrader.preprocessors.ClearMarkScheme']")
        run_nbgrader(*args, course_root=course_root, quiet=True)
        return []
    stamps, out_dir = Stamps(course_root), course_root / SOLUTIONS.name / assignment
    texts = sorted((course_root / "source" / assignment).glob("[0-9]*.py"))
    stale = [text for text in texts if force or not stamps.current(out_dir / f"{text.stem}.ipynb", text)]
    for text in texts:
        if text not in stale:
            log.info("solutions/%s/%s.ipynb: inputs unchanged, not re-executed", assignment, text.stem)
    for text in stale:
        log.info("solutions/%s/%s.ipynb: executing", assignment, text.stem)
        run_solution(course_root, assignment, text.stem)
        path = out_dir / f"{text.stem}.ipynb"
        write_notebook(scrub_volatile(nbformat.read(str(path), as_version=4)), path)
        stamps.record(path, text)
    return [text.stem for text in stale]


def run_solution(course_root: Path, assignment: str, notebook: str) -> None:
    """nbgrader generate_solution for one notebook (its --force replaces only that notebook)."""
    run_nbgrader("generate_solution", assignment, "--force", f"--notebook={notebook}", course_root=course_root,
                 quiet=True)


def execute_notebook(nb: nbformat.NotebookNode, cwd: Path, timeout: int = LESSON_TIMEOUT_S) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return scrub_volatile(nb)


def build_lessons(lessons_dir: Path = LESSONS, execute: bool = True, force: bool = False,
                  course_root: Path = REPO) -> list[Path]:
    """The lessons' notebooks; executed only when their inputs changed (or `force`)."""
    written = []
    stamps = Stamps(course_root)
    for text in sorted(lessons_dir.glob("[0-9]*.py")):
        out = text.with_suffix(".ipynb")
        if execute and not force and stamps.current(out, text):
            log.info("%s: inputs unchanged, not re-executed", out.relative_to(course_root))
            continue
        nb = build_notebook(text)
        if execute:
            log.info("%s: executing", out.relative_to(course_root))
            nb = execute_notebook(nb, cwd=lessons_dir)
        write_notebook(nb, out)
        if execute:
            stamps.record(out, text)
        written.append(out)
    return written


STEPS = ("sources", "release", "solutions", "lessons")


def build(course_root: Path, assignment: str = ASSIGNMENT, steps: list[str] | None = None,
          force: bool = False) -> None:
    for step in steps or STEPS:
        log.info("[build] %s", step)
        if step == "sources":
            build_sources(course_root, assignment)
        elif step == "release":
            build_release(course_root, assignment)
        elif step == "solutions":
            build_solutions(course_root, assignment, force=force)
        elif step == "lessons" and (course_root / LESSONS.name).is_dir():
            build_lessons(course_root / LESSONS.name, force=force, course_root=course_root)
