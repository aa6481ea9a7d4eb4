"""Issue 20, "nothing to borrow": the grading kernel holds probes only. No reference implementation, reference
output, expected value or threshold is imported, pickled or computed there; the judges (lab/judges) decide
every point in the grader's process and are never staged into the jail."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys

from autograder.jail.launch import stage_python

from autograder.paths import CONTENT

CHECKS = CONTENT / "checks"

# What the kernel imports before any student code (zygote.preload, boot): every probe module and the provided code.
KERNEL = r"""
import gc, importlib, json, pkgutil, sys, types
# In the jail only the staged copy of the package exists; outside it, an editable install's import hook would
# still find the repository's own modules (lab.judges among them): take it out, as the jail does.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
import lab.checks, lab.provided
loaded = []
for package in ("lab.provided", "lab.checks"):
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        try:
            importlib.import_module(f"{package}.{info.name}")
            loaded.append(f"{package}.{info.name}")
        except Exception as exc:
            loaded.append(f"FAILED {package}.{info.name}: {exc!r}")
try:
    import lab.judges
    judges_importable = True
except ImportError:
    judges_importable = False
from_judges = sorted({getattr(o, "__module__", "") or "" for o in gc.get_objects()
                      if isinstance(o, (types.FunctionType, type))
                      and (getattr(o, "__module__", "") or "").startswith(("lab.judges", "autograder.judging",
                                                                             "autograder.reference",
                                                                             "autograder.nbgrader_ext",
                                                                             "autograder.variants"))})
print(json.dumps({"loaded": loaded, "judges_importable": judges_importable, "from_judges": from_judges,
                  "modules": sorted(m for m in sys.modules if m.startswith(("autograder", "lab")))}))
"""


def test_the_kernel_can_load_every_probe_and_no_judge(tmp_path):
    stage_python(tmp_path / "stage")
    out = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, cwd=tmp_path, check=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "stage"), "PYTHONSAFEPATH": "1",
                              "PYTHONNOUSERSITE": "1"})
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # provided code written to follow other provided cells (tiny_lm) may not import alone; every probe must
    assert not [m for m in seen["loaded"] if m.startswith("FAILED lab.checks")], seen["loaded"]
    assert "lab.checks.rmsnorm" in seen["loaded"] and "lab.checks.decoder" in seen["loaded"]
    assert seen["judges_importable"] is False
    assert seen["from_judges"] == []
    assert not [m for m in seen["modules"] if m.startswith(("lab.judges", "autograder.judging",
                                                            "autograder.reference", "autograder.nbgrader_ext"))]
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["autograder", "lab"]
    assert not (tmp_path / "stage" / "lab" / "judges").exists() and not (tmp_path / "stage" / "autograder" /
                                                                         "judging.py").exists()
    assert not (tmp_path / "stage" / "autograder" / "reference.py").exists()  # the instructor's solution, run


# Names that only a judge's side has business with: a probe module defining one is holding an answer.
ANSWER_NAMES = re.compile(r"reference|expected|tolerance|^(RTOL|ATOL)$|^GRAD_(RTOL|ATOL)$|_TOLERANCES?$", re.I)


def test_probe_modules_define_no_reference_or_threshold():
    """Names only a judge has business with. A probe's own name may say what it checks ("matches_reference_...")."""
    import importlib

    found = []
    for path in sorted(CHECKS.glob("*.py")):
        module = importlib.import_module(f"lab.checks.{path.stem}")
        probes = set(getattr(getattr(module, "GROUPS", None), "checks", {}))
        for node in ast.parse(path.read_text()).body:
            names = [node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else \
                [t.id for n in ([node] if isinstance(node, ast.Assign) else []) for t in n.targets
                 if isinstance(t, ast.Name)]
            found += [f"{path.name}: {name}" for name in names if ANSWER_NAMES.search(name) and name not in probes]
    assert found == [], "a probe module holds what only judges need (move it to lab/judges/)"


def test_probe_modules_never_import_the_judges_at_load_time():
    """Only `CheckGroups.judges()`, called where no grading channel is open, imports them (lazily)."""
    for path in sorted(CHECKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "judges" not in (node.module or ""), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not [a for a in node.names if "judges" in a.name], f"{path.name} imports the judges"


def test_every_graded_code_cell_names_known_check_groups():
    """A graded cell's points come from its hidden checks alone, so each has at least one hidden-test line, and
    each names an exercise and group the judges know (a typo would stop a whole student's grading)."""
    from autograder.nbgrader_ext.judge import group_calls
    from autograder.notebook_text import build_notebook
    from autograder.paths import ASSIGNMENT, SOURCE

    for path in sorted((SOURCE / ASSIGNMENT).glob("[0-9]*.py")):
        for cell in build_notebook(path).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                assert group_calls(cell.source), f"{path.name}: graded cell {meta.get('grade_id')} has no hidden checks"
