"""The main job: grade the bundled example class end to end. `lab grade` (or `make grade`).

1. set up the example course in example_course/ beside the course it is run from (its own nbgrader course root and
   gradebook, so the example students never mix with a real class), from that course's config and sources, and
   build its release there (nbgrader generate_assignment, once: it also records the hidden tests in the example
   course's gradebook, where autograde reads them);
2. write the example class's submissions there (lab/example_class.toml);
3. autograde them in parallel (autograder.autograde): a re-run regrades only what changed;
4. write per-student HTML feedback, grades.csv, and the instructor's report;
5. print a table of students x notebooks and where each output went.

The example class is this repository's own code: where the jail cannot run (bubblewrap missing, macOS, no user
namespaces), it is graded without the jail, and the run says so at the start and in its summary. A real class
(`lab autograde`) never is, unless asked for.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from . import load_class, write_submissions
from .. import report
from ..autograde import as_course, autograde_class, check_jail
from ..build import build_release
from ..course import CONFIG_FILE, Course, NotACourse, copy_course
from ..jail import ENABLE_JAIL
from ..nbgrader_cli import run_nbgrader
from ..paths import EXAMPLE_CLASS, REPO

log = logging.getLogger(__name__)

EXAMPLE_COURSE_DIR = "example_course"


class GradingFailed(RuntimeError):
    """Not one student could be graded: there is nothing to report."""


def default_course(assignment: str | None = None) -> Course:
    """The course `lab grade` uses without --course: the current directory when it is a course root, else this
    repository's (the example class is this repository's, unlike a real class, which `lab autograde` grades only in
    the course it is run in)."""
    return Course.load(None if (Path.cwd() / CONFIG_FILE).is_file() else REPO, assignment)


def _snapshot(folder: Path, pattern: str) -> list[tuple[str, bytes]]:
    return sorted((p.name, p.read_bytes()) for p in folder.glob(pattern))


def _is_stale(example_root: Path, course: Course) -> bool:
    """The example course was built from other sources or another config than the course's."""
    assignment = course.assignment
    return (_snapshot(example_root / "source" / assignment, "*.py") != _snapshot(course.folder("source") / assignment,
                                                                                 "*.py")
            or not (example_root / CONFIG_FILE).is_file()
            or (example_root / CONFIG_FILE).read_bytes() != (course.root / CONFIG_FILE).read_bytes())


def prepare_example_course(example_root: Path, course: Course) -> Course:
    """example_root becomes a course with the course's config and sources, and its release built there, in a
    gradebook that knows the assignment.

    nbgrader refuses to regenerate an assignment that has submissions once its notebooks changed, so an example
    course built from other sources is rebuilt from scratch when its gradebook is its own SQLite file: everything in
    it is derived. An external gradebook (a server's db_url) is never reset: there the sources are refreshed and
    nbgrader's own refusal, if any, stands."""
    if example_root.exists() and _is_stale(example_root, course):
        try:
            own_gradebook = Course.load(example_root).sqlite_file is not None
        except NotACourse:
            own_gradebook = True
        if own_gradebook:
            log.info("the example course was built from other sources: rebuilding it")
            shutil.rmtree(example_root)
    copy_course(example_root, course.root, release=False)
    example = Course.load(example_root, course.assignment, course.overrides)
    build_release(example.root, example.assignment)
    return example


def grade_example_class(course: Course | Path | None = None, example_root: Path | None = None,
                        workers: int | None = None, force: bool = False, only: list[str] | None = None) -> dict:
    """Grade the example class (or only the students named in `only`) in example_root (default: example_course/
    in the course's root). `course`: the course whose config and sources are used (default: default_course())."""
    t0 = time.perf_counter()
    course = as_course(course) if course else default_course()
    example_root = Path(example_root or course.root / EXAMPLE_COURSE_DIR)
    unsandboxed = check_jail(allow_unsandboxed=True)
    if unsandboxed:
        log.warning("NO JAIL: the example class (this repository's own code) is graded without the jail because %s."
                    " %s.", unsandboxed, ENABLE_JAIL)
    log.info("building the example course in %s", example_root)
    example = prepare_example_course(example_root, course)
    roster = [s for s in load_class() if only is None or s.id in only]
    students = write_submissions(example.root, roster, assignment=example.assignment,
                                 release=example.folder("release"))
    log.info("%d submissions written to %s", len(students), example.folder("submitted"))
    results = autograde_class(example, students=students, workers=workers, force=force, allow_unsandboxed=True)
    failed = [r for r in results if r.status == "failed"]
    if len(failed) == len(results):
        reasons = "\n".join(f"  {r.student}: {r.detail.strip()[:300]}" for r in failed)
        raise GradingFailed(f"grading failed for every student ({len(failed)}), so there is no feedback or report; "
                            f"the reasons nbgrader gave:\n{reasons}")
    log.info("writing feedback and grades.csv")
    assignment = example.assignment
    run_nbgrader("generate_feedback", assignment, "--force", course_root=example.root, quiet=True)
    grades_csv = example.root / "grades.csv"
    run_nbgrader("export", f"--CsvExportPlugin.to={grades_csv}", course_root=example.root, quiet=True)
    scores = report.read_scores(example.db_url, example.course_id, assignment)
    failures = report.check_failures(example.folder("autograded"), assignment)
    outputs = report.write_report(scores, failures, example.folder("reports"))
    return {"scores": scores, "results": results, "outputs": outputs, "course": example, "grades": grades_csv,
            "unsandboxed": unsandboxed, "seconds": time.perf_counter() - t0,
            "golden": golden_mismatches(scores, roster, example)}


def golden_mismatches(scores: report.ClassScores, roster, example: Course) -> list[str]:
    """Where a student's score differs from the one example_class.toml expects (its `expected_all_or_nothing` when
    the course gives no partial credit): what `lab grade` checks, as the golden test does."""
    partial = example.config.SandboxedExecute.get("partial_credit", True)
    found = []
    for student in roster:
        expected = student.expected if partial or not student.expected_all_or_nothing else \
            student.expected_all_or_nothing
        for notebook, score in sorted(expected.items()):
            got = scores.score.get((student.id, notebook))
            if got is None or abs(got - score) > 0.005:
                found.append(f"{student.id} {notebook}: {got if got is not None else 'no grade'}, expected {score}")
    return found


def summary(result: dict) -> str:
    """What the command prints when done: the score table, failures, where everything went, and the jail's state."""
    example: Course = result["course"]
    assignment = example.assignment
    lines = [report.score_table(result["scores"])]
    for r in result["results"]:
        if r.status == "failed":
            lines.append(f"\n{r.student}: grading failed: {r.detail.strip()[:300]}")
    lines.append(f"""
done in {result['seconds']:.0f}s
  gradebook        {example.db_url}
  grades           {result['grades']}
  feedback         {example.folder('feedback')}/<student>/{assignment}/<notebook>.html
  autograded       {example.folder('autograded')}/<student>/{assignment}/
  report (PNG)     {result['outputs']['png']}
  check failures   {result['outputs']['csv']}""")
    if result["unsandboxed"]:
        lines.append(f"  jail             NOT USED: {result['unsandboxed']}. {ENABLE_JAIL}.")
    else:
        lines.append("  jail             every notebook was graded in the bubblewrap jail")
    if result["golden"]:
        lines.append(f"  golden scores    {len(result['golden'])} DIFFER from {EXAMPLE_CLASS.name}:")
        lines += [f"                     {line}" for line in result["golden"]]
    else:
        lines.append(f"  golden scores    every score is the one {EXAMPLE_CLASS.name} expects")
    return "\n".join(lines)
