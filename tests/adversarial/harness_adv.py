"""Grade a class of adversarial students in ONE nbgrader autograde run, in a scratch course root.

Each file in cases/ is one student: its header says how the submission is made and what must come out:
  # base: correct | wrong      the solution cell starts from a correct (llama_style) or wrong (eps_outside_sqrt: fails only the hidden values group) RMSNorm
  # notebook: NAME SOLUTION_ID (optional) another notebook of the assignment and the solution cell the case fills; then
                               base names a variant (e.g. checkpointing/wrong/encoder_reentrant)
  # kind: solution | transform solution (default): the file's code is appended to the solution cell;
                               transform: the file's transform(folder, notebook) edits the submission folder
  # expect: score == 8 | score == 0 | score <= baseline (a cheat: never more than the same code without it) |
            score <= 8 | no LEAK | no PWNED file anywhere |
            notebook_kb < N
  # baseline: CASE             the student `baseline` names (default wrong_baseline): a control case graded in the
                               same run, the same wrong code without the attack
  # reason: TEXT               TEXT appears in the student's feedback (or, without feedback, grading's record)
  # known: TEXT                an attack that still wins (TEXT says how, and what it costs the student): its
                               expectations are those it should meet, the test is an expected failure (strict: when
                               it stops winning, the marker must go)
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
VARIANTS = REPO / "tests" / "variants"
ASSIGNMENT = "transformer_block"
NOTEBOOK = "03_rmsnorm.ipynb"
SOLUTION_ID = "rmsnorm_impl"
BASES = {"correct": REPO / "tests/variants/rmsnorm/correct/llama_style.py",
         "wrong": REPO / "tests/variants/rmsnorm/wrong/eps_outside_sqrt.py"}


@dataclass
class Case:
    name: str
    path: Path
    base: str | None = None
    kind: str = "solution"
    expects: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    doc: str = ""
    notebook: str = f"{NOTEBOOK} {SOLUTION_ID}"
    baseline: str = "wrong_baseline"
    known: str = ""

    @property
    def notebook_file(self) -> str:
        return self.notebook.split()[0].removesuffix(".ipynb") + ".ipynb"

    @classmethod
    def load(cls, path: Path) -> "Case":
        case = cls(path.stem, path)
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            m = re.match(r"#\s*(base|kind|expect|reason|notebook|baseline|known):\s*(.+)", line)
            if m is None:
                case.doc += line.lstrip("# ").strip() + " "
            elif m[1] == "expect":
                case.expects.append(m[2].strip())
            elif m[1] == "reason":
                case.reasons.append(m[2].strip())
            else:
                setattr(case, m[1], m[2].strip())
        case.doc = case.doc.strip()
        return case


def all_cases() -> list[Case]:
    return [Case.load(p) for p in sorted(CASES.glob("*.py"))]


def make_course(root: Path) -> None:
    """A scratch course root: the config, the text sources, the checks' gradebook entries and release/."""
    from autograder.build import build_release
    from autograder.course import copy_course

    copy_course(root, REPO, release=False)
    build_release(course_root=root)


def make_submission(root: Path, case: Case) -> None:
    folder = root / "submitted" / case.name / ASSIGNMENT
    folder.mkdir(parents=True)
    notebook_file, solution_id = case.notebook_file, case.notebook.split()[1]
    nb = json.loads((root / "release" / ASSIGNMENT / notebook_file).read_text())
    base = BASES.get(case.base, VARIANTS / f"{case.base}.py") if case.base else None
    code = base.read_text() if base else None
    if case.kind == "solution":
        code = (code or "") + "\n\n" + case.path.read_text()
    if code is not None:
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == solution_id:
                cell["source"] = code
    notebook = folder / notebook_file
    notebook.write_text(json.dumps(nb, indent=1))
    if case.kind == "transform":
        namespace: dict = {}
        exec(compile(case.path.read_text(), str(case.path), "exec"), namespace)
        namespace["transform"](folder, notebook)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


CONTROLS = ("perfect", "wrong_baseline")


@dataclass
class ClassRun:
    roots: dict[str, Path]  # student -> the course root that graded it (controls: the first shard's)
    cases: dict[str, Case]
    scores: dict[str, float | None]
    control_scores: dict[str, list[float | None]]  # a control student's score in every shard
    returncodes: list[int]
    log: str
    seconds: float
    submitted_before: dict[str, str]
    submitted_after: dict[str, str]

    def autograded_text(self, student: str) -> str | None:
        """All outputs (and markdown) of the student's graded notebook, as text (None when there is none)."""
        path = self.roots[student] / "autograded" / student / ASSIGNMENT / self.cases[student].notebook_file
        if not path.exists():
            return None
        nb = json.loads(path.read_text())
        parts = []
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                parts.append("".join(cell["source"]))
            for out in cell.get("outputs", []):
                parts.append("".join(out.get("text", "")) + out.get("ename", "") + ": " + out.get("evalue", "")
                             + "\n".join(out.get("traceback", [])))
        return "\n".join(parts)

    def feedback(self, student: str) -> str | None:
        notebook = self.cases[student].notebook_file
        path = self.roots[student] / "feedback" / student / ASSIGNMENT / notebook.replace(".ipynb", ".html")
        return path.read_text() if path.exists() else None


def read_scores(root: Path, students: list[str]) -> dict[str, float | None]:
    from nbgrader.api import Gradebook

    scores: dict[str, float | None] = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in students:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
                scores[student] = sum(g.score for nb in submission.notebooks for g in nb.grades
                                      if g.auto_score is not None and g.cell.cell_type == "code")
            except Exception:  # noqa: BLE001 (no grade recorded)
                scores[student] = None
    return scores


def grade_class(root: Path, cases: list[Case], cell_timeout: int = 10, shards: int = 2) -> ClassRun:
    """Grade the class in `shards` course roots at once (one nbgrader process each: the machine's cores), the
    control students in every shard, so that each shard shows its hostile students did not affect the others."""
    from autograder.nbgrader_cli import nbgrader_env

    template = root / "template"
    template.mkdir()
    make_course(template)
    controls = [c for c in cases if c.name in CONTROLS]
    others = [c for c in cases if c.name not in CONTROLS]
    shard_cases = [controls + others[i::shards] for i in range(shards)]
    shard_roots = []
    for i in range(shards):
        shard_root = root / f"shard{i}"
        shutil.copytree(template, shard_root)
        for case in shard_cases[i]:
            make_submission(shard_root, case)
        shard_roots.append(shard_root)
    before = {f"{r.name}/{k}": v for r in shard_roots for k, v in tree_digest(r / "submitted").items()}
    env = nbgrader_env()
    timeouts = [f"--Execute.timeout={cell_timeout}", f"--SandboxedExecute.timeout={cell_timeout}"]
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", *timeouts],
                              cwd=r, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in shard_roots]
    logs = [p.communicate()[0] for p in procs]
    seconds = time.monotonic() - started
    for r in shard_roots:
        from autograder.course import Course
        from autograder.nbgrader_ext.missing import record_missing
        record_missing(Course.load(r, ASSIGNMENT))
        result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", ASSIGNMENT, "--force"],
                                cwd=r, env=env, capture_output=True, text=True)
        logs.append(result.stdout + result.stderr)
    roots: dict[str, Path] = {}
    scores: dict[str, float | None] = {}
    control_scores: dict[str, list] = {c.name: [] for c in controls}
    for r, group in zip(shard_roots, shard_cases):
        shard_scores = read_scores(r, [c.name for c in group])
        for case in group:
            if case.name in control_scores:
                control_scores[case.name].append(shard_scores[case.name])
            if case.name not in roots:
                roots[case.name] = r
                scores[case.name] = shard_scores[case.name]
    after = {f"{r.name}/{k}": v for r in shard_roots for k, v in tree_digest(r / "submitted").items()}
    return ClassRun(roots, {c.name: c for c in cases}, scores, control_scores, [p.returncode for p in procs],
                    "\n".join(logs), seconds, before, after)


def dead_jail_folders() -> list[str]:
    """The jail folders (autograder/jail/rundir.py) whose grading process is gone (their lock is free): none may stay
    after any exit but SIGKILL, whose folder the next grading process removes."""
    from autograder.jail import rundir

    dead = []
    for path in Path(rundir.PARENT).glob(rundir.PREFIX + "*"):
        try:
            fd = os.open(path / rundir.LOCK, os.O_RDONLY)
        except OSError:
            dead.append(str(path))  # no lock: not a live process's
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            dead.append(str(path))
        except OSError:
            pass
        finally:
            os.close(fd)
    return dead
