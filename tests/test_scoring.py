"""How the grader scores a graded cell (autograder/nbgrader_ext/execute.py and judge.py), read back with nbgrader's
own scoring function: from the signed verdicts of guarded checks and the judge's decisions on judged checks' probe
data; full marks, partial credit, all or nothing, forged or missing verdicts and data, and score outputs that the
code under test published itself."""
from __future__ import annotations

import sys
import types

import nbformat
import pytest
import torch
from nbgrader.utils import determine_grade

from autograder.checks._core import CheckGroups, expect
from autograder.nbgrader_ext.execute import SandboxedExecute, partial_points
from autograder.protocol import verdict_line, verdict_status

KEY = b"k" * 32
SEED = 4242


def hidden_test(group: str, module: str = "scoring_fixture") -> str:
    return (f"### BEGIN HIDDEN TESTS\nfrom autograder.checks import {module} as _checks; "
            f"_checks.GROUPS.run(\"{group}\", RMSNorm)\n### END HIDDEN TESTS\nassert True\n")


SOURCE = hidden_test("values")  # a group of five guarded checks


def fixture_groups() -> CheckGroups:
    """A check module for these tests: `values`, five guarded checks; `judged`, three judged checks (the probe
    reports f(x) for inputs drawn from the seed, the judge wants 2 x); `mixed`, two guarded and one judged."""
    groups = CheckGroups(name="scoring_fixture")
    for i in range(5):
        groups.check("values")(types.FunctionType((lambda f: None).__code__, {}, f"guarded_{i}"))
    for group, count in (("judged", 3), ("mixed", 1)):
        for i in range(count):
            def probe(f, seed):
                return {"y": f(torch.randn(4, generator=torch.Generator().manual_seed(seed)))}
            probe.__name__ = f"{group}_{i}"
            probe.__doc__ = "f doubles its input"

            def judge(data, seed):
                x = torch.randn(4, generator=torch.Generator().manual_seed(seed))
                expect(torch.equal(data["y"], 2 * x), "f(x) is not 2 x")
            groups.probe(group)(probe).judge(judge)
    for i in range(2):
        groups.check("mixed")(types.FunctionType((lambda f: None).__code__, {}, f"mixed_guarded_{i}"))
    return groups


@pytest.fixture(autouse=True)
def fixture_module(monkeypatch):
    module = types.ModuleType("autograder.checks.scoring_fixture")
    module.GROUPS = fixture_groups()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def probe_output(group: str, f, seed: int = SEED, module=None) -> str:
    """What the grading kernel prints for `group` when the student's function is f (probes only, no judging)."""
    from autograder.checks import _core
    groups = (module or sys.modules["autograder.checks.scoring_fixture"]).GROUPS
    _core.open_channel(seed)
    try:
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            groups.send_probes(group, f)
        return out.getvalue()
    finally:
        _core._CHANNEL.clear()


def graded_cell(*outputs, points: float = 2, source: str = SOURCE) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": points}
    cell.outputs = list(outputs)
    return cell


def stdout(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def verdict(passed: int, total: int, key: bytes = KEY, seq: int = 1) -> str:
    return verdict_line(key, seq, "values", verdict_status(passed, total)) + "\n"


def score(cell, partial_credit: bool = True) -> float:
    grader = SandboxedExecute(partial_credit=partial_credit)
    grader._key, grader._seed = KEY, SEED
    nb = nbformat.v4.new_notebook(cells=[cell])
    grader._check_verdicts(nb)
    return determine_grade(nb.cells[0])[0]


def test_all_checks_passed_keeps_the_points():
    assert score(graded_cell(stdout("[ok  ] a: x\n" + verdict(5, 5)))) == 2


@pytest.mark.parametrize("passed,expected", [(3, 1.2), (0, 0), (4, 1.6)])
def test_partial_credit_is_proportional_to_checks_passed(passed, expected):
    assert score(graded_cell(stdout(verdict(passed, 5)))) == pytest.approx(expected)


def test_all_or_nothing_when_partial_credit_is_off():
    assert score(graded_cell(stdout(verdict(3, 5))), partial_credit=False) == 0
    assert score(graded_cell(stdout(verdict(5, 5))), partial_credit=False) == 2


def test_an_error_anywhere_in_the_cell_still_scores_zero():
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="visible test", traceback=[])
    assert score(graded_cell(stdout(verdict(5, 5)), error)) == 0
    assert score(graded_cell(stdout(verdict(3, 5)), error)) == 0


@pytest.mark.parametrize("text", [
    "",                                           # the hidden checks never ran (skipped, cell rewritten)
    verdict(5, 5, key=b"x" * 32),                 # signed with another key
    verdict(5, 5).replace("5/5", "9/9"),          # counts changed after signing
    verdict_line(KEY, 1, "values", "failed") + "\n",  # the guard saw tampering
    "[verdict 1 values passed 0123456789abcdef0123456789abcdef]\n",  # the old all-or-nothing format, forged
])
def test_missing_forged_or_failed_verdicts_score_zero(text):
    assert score(graded_cell(stdout("[ok  ] a: x\n" + text))) == 0


def test_a_score_published_by_the_code_under_test_is_not_read():
    """nbgrader reads a cell's first execute_result as its score (non-numbers as full marks): code under test can
    publish one with sys.displayhook. The grader keeps it as display data and writes the score itself."""
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "'full marks please'"}, execution_count=1)
    assert score(graded_cell(forged, stdout(verdict(1, 5)))) == pytest.approx(0.4)
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    assert score(graded_cell(forged, stdout(verdict(0, 5)))) == 0


def test_partial_points_to_a_hundredth_and_below_full_marks():
    assert partial_points(2, 2, 3) == 1.33
    assert partial_points(2, 1, 3) == 0.67
    assert partial_points(3, 1, 3) == 1.0
    assert all(partial_points(points, total - 1, total) < points for points in (1, 2, 4) for total in range(2, 400))


# --- judged checks: decided from probe data, in the grader's process ------------------------------------------

def test_judged_checks_decide_the_cell_from_probe_data():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x)), source=hidden_test("judged"))
    assert score(cell) == 2
    assert "[ok  ] judged_0: f doubles its input" in cell.outputs[-1].text


def test_wrong_probe_data_fails_the_judged_checks():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 3 * x)), source=hidden_test("judged"))
    assert score(cell) == 0
    assert "[FAIL] judged_0" in "".join(o.get("text", "") for o in cell.outputs)
    assert "f(x) is not 2 x" in "".join(o.get("text", "") for o in cell.outputs)


def test_probe_data_for_another_seed_is_not_accepted():
    """Data recorded in another grading run (another seed) does not match this run's inputs."""
    replayed = probe_output("judged", lambda x: 2 * x, seed=SEED + 1)
    assert score(graded_cell(stdout(replayed), source=hidden_test("judged"))) == 0


@pytest.mark.parametrize("text", [
    "",                                                        # the probe never ran
    "[probe scoring_fixture judged bm90IGEgemlw]\n",             # not torch.save data
    "[probe scoring_fixture judged !!!]\n",                      # not base64
    "[probe scoring_fixture other AAAA]\n",                      # another group's line
])
def test_missing_or_unreadable_probe_data_scores_zero(text):
    cell = graded_cell(stdout(text + "visible tests passed\n"), source=hidden_test("judged"))
    assert score(cell) == 0
    assert any(o.get("ename") == "UnconfirmedResult" for o in cell.outputs)


def test_probe_data_that_is_not_plain_data_is_refused():
    """torch.load(weights_only=True) rebuilds tensors and containers only: a pickled object is refused."""
    import base64
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("PWNED",))

    forged = "[probe scoring_fixture judged " + base64.b64encode(pickle.dumps({"judged_0": Evil()})).decode() + "]\n"
    assert score(graded_cell(stdout(forged), source=hidden_test("judged"))) == 0


def test_probe_lines_are_removed_from_the_graded_notebook():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x) + "visible tests passed\n"),
                       source=hidden_test("judged"))
    score(cell)
    text = "".join(o.get("text", "") for o in cell.outputs)
    assert "[probe " not in text and "visible tests passed" in text


def test_guarded_and_judged_checks_of_one_cell_count_together():
    """`mixed`: two guarded checks (signed verdict) and one judged check: 2 of 3 passed gives 2 x 2/3 points."""
    from autograder.protocol import verdict_line as line
    signed = line(KEY, 1, "mixed", verdict_status(1, 2)) + "\n"
    cell = graded_cell(stdout(probe_output("mixed", lambda x: 2 * x) + signed), source=hidden_test("mixed"))
    assert score(cell) == pytest.approx(partial_points(2, 2, 3))
    no_verdict = graded_cell(stdout(probe_output("mixed", lambda x: 2 * x)), source=hidden_test("mixed"))
    assert score(no_verdict) == 0, "the guarded half of a mixed group still needs its signed verdict"


def test_a_forged_verdict_does_not_pass_a_judged_group():
    """Judged groups need no verdict, and a verdict (even correctly signed) does not stand in for their data."""
    signed = verdict_line(KEY, 1, "judged", verdict_status(3, 3)) + "\n"
    assert score(graded_cell(stdout(signed), source=hidden_test("judged"))) == 0


def test_rmsnorm_end_to_end_through_the_channel():
    """The real exercise 3 checks: a correct RMSNorm's probe data is judged full marks for this run's seed, and
    the same data offered to a run with another seed scores nothing."""
    from autograder.checks import rmsnorm
    from autograder.variants import load_variant, variant_paths
    correct = load_variant(next(p for p in variant_paths("rmsnorm", "correct") if p.stem == "llama_style"))["RMSNorm"]
    data = probe_output("values", correct, module=rmsnorm)
    assert score(graded_cell(stdout(data), source=hidden_test("values", "rmsnorm"))) == 2
    replay = probe_output("values", correct, seed=SEED + 1, module=rmsnorm)
    assert score(graded_cell(stdout(replay), source=hidden_test("values", "rmsnorm"))) == 0
