"""The adversarial suite: every case in cases/ is a student of one class, graded in ONE sandboxed nbgrader run.

Always expected, for every case: the run finishes, the student gets a recorded grade, the submitted files are
unchanged, nothing it printed shows a leak, and what its header expects holds (see harness_adv.py).
"""
from __future__ import annotations

import glob
import logging
import re
import subprocess

import pytest

from harness_adv import CONTROLS, all_cases, dead_jail_folders, grade_class

CASES = all_cases()


def selected_cases(session) -> list:
    """The cases this session runs (`-k` may select a few), with the controls and the baselines they name: only
    those are graded."""
    by_name = {c.name: c for c in CASES}
    # getattr: the session also holds nbval's notebook cells, which have no `originalname`.
    chosen = {item.callspec.params["case"].name for item in session.items
              if getattr(item, "originalname", None) == "test_case" and hasattr(item, "callspec")}
    if not chosen:
        chosen = set(by_name)
    chosen |= set(CONTROLS) | {by_name[n].baseline for n in chosen if n in by_name}
    return [c for c in CASES if c.name in chosen]


@pytest.fixture(scope="session")
def graded(request, tmp_path_factory):
    from conftest import require_jail

    require_jail()  # hostile code runs only in the jail: skipped with the reason and the install command; fails under CI=true
    graded = grade_class(tmp_path_factory.mktemp("adversarial-course"), selected_cases(request.session))
    # How long it took is information, not a test (timings are never asserted here): the log shows it (pytest's
    # live log, `-o log_cli=true`, or the captured log of a failing test).
    logging.getLogger(__name__).info("graded %d cases in %.0f s", len(graded.cases), graded.seconds)
    return graded


def test_the_run_finishes_and_grades_everyone(graded):
    # nbgrader exits 1 when a submission has no notebook of the assignment (wrong_name): that one only
    failed = set(re.findall(r"error processing assignment '\w+' for student '(\w+)'", graded.log))
    assert failed <= {"wrong_name"}, graded.log[-5000:]
    missing = [name for name, score in graded.scores.items() if score is None]
    assert not missing, f"no grade recorded for {missing}\n{graded.log[-5000:]}"


def test_submitted_files_never_modified_or_lost(graded):
    assert graded.submitted_after == graded.submitted_before


def test_other_students_unaffected(graded):
    """The control students, graded in every shard among the hostile ones, get exactly their expected grades."""
    assert all(score == 8 for score in graded.control_scores["perfect"]), graded.control_scores
    assert len(set(graded.control_scores["wrong_baseline"])) == 1, graded.control_scores


def test_no_grading_process_left_behind(graded):
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    left = [line for line in out.splitlines() if 200_000 <= int(line.split()[0]) < 300_000]
    assert not left, left


def test_no_jail_folder_left_behind(graded):
    """Both nbgrader processes have ended: each removed its /tmp/ag-jail-* folder (kernels, zygote, staged checks)."""
    assert not dead_jail_folders(), dead_jail_folders()


def _marks(case):
    return [pytest.mark.xfail(reason=f"known: {case.known}", strict=True)] if case.known else []


@pytest.mark.parametrize("case", [pytest.param(c, marks=_marks(c)) for c in CASES], ids=[c.name for c in CASES])
def test_case(graded, case):
    score = graded.scores[case.name]
    assert score is not None, f"{case.name}: no grade recorded"
    baseline = graded.scores.get(case.baseline)
    assert baseline is not None, f"{case.name}: its baseline {case.baseline} has no grade"
    text = graded.autograded_text(case.name) or ""
    feedback = graded.feedback(case.name)
    for expect in case.expects:
        if expect.startswith("score"):
            op, value = re.match(r"score\s*(==|<=|>=|<)\s*(\S+)", expect).groups()
            target = baseline if value == "baseline" else float(value)
            ok = {"==": score == target, "<=": score <= target, ">=": score >= target, "<": score < target}[op]
            assert ok, f"{case.name}: score {score}, expected {expect} (baseline {baseline})\n{text[-3000:]}"
        elif expect == "no LEAK":
            assert "LEAK" not in text.replace('"LEAK', "").replace("'LEAK", ""), text
        elif expect == "no PWNED file anywhere":
            found = [p for root in set(graded.roots.values()) for p in glob.glob(str(root.parent / "**" / "*PWNED*"), recursive=True)]
            found += glob.glob("/PWNED") + glob.glob("/tmp/PWNED")
            assert not found, found
        elif expect.startswith("notebook_kb"):
            limit = float(expect.split("<")[1])
            path = graded.roots[case.name] / "autograded" / case.name / "transformer_block" / "03_rmsnorm.ipynb"
            assert path.stat().st_size / 1024 < limit
        else:
            raise AssertionError(f"unknown expectation {expect!r}")
    for reason in case.reasons:
        where = (feedback or "") + text
        assert reason in where, f"{case.name}: reason {reason!r} not in its feedback\n{text[-3000:]}"
    if feedback is not None:
        assert "GROUPS.run" not in feedback, "hidden-test code in the feedback"
        # probe data is the judge's input, removed from the graded cells (a case may print such lines elsewhere)
        if "[probe " not in case.path.read_text() and "probe_line" not in case.path.read_text():
            assert "[probe " not in feedback, "probe data in the feedback"
