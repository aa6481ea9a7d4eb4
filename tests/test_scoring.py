"""How the grader scores a graded cell (autograder/nbgrader_ext/execute.py and judge.py), read back with nbgrader's
own scoring function: from the judges' decisions on the probe data alone; full marks, partial credit, all or
nothing, missing, duplicated, stray or forged data, visible tests that carry no points, and score outputs that the
code under test published itself."""
from __future__ import annotations

import asyncio
import contextlib
import io
import queue
import sys
import types

import nbformat
import pytest
import torch
from nbgrader.utils import determine_grade

from autograder.probing import _CHANNEL, CheckGroups, open_channel
from autograder.judging import Judges, expect
from autograder.nbgrader_ext.execute import SandboxedExecute, partial_points
from autograder.nbgrader_ext.judge import UnknownCheckGroup

SEED = 4242
MODULE = "scoring_fixture"


def hidden_test(group: str, module: str = MODULE) -> str:
    return (f"### BEGIN HIDDEN TESTS\nfrom lab.checks import {module} as _checks; "
            f"_checks.GROUPS.run(\"{group}\", RMSNorm)\n### END HIDDEN TESTS\nassert True\n")


def fixture_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """An exercise for these tests: groups `judged` (three checks) and `five` (five checks); each probe reports f(x)
    for inputs drawn from the seed and its judge wants 2 x, exactly."""
    groups = CheckGroups(name=MODULE)
    judges = Judges(groups)
    for group, count in (("judged", 3), ("five", 5)):
        for i in range(count):
            def probe(f, seed):
                return {"y": f(torch.randn(4, generator=torch.Generator().manual_seed(seed)))}
            probe.__name__ = f"{group}_{i}"
            probe.__doc__ = "f doubles its input"
            groups.probe(group)(probe)

            def judge(data, seed):
                x = torch.randn(4, generator=torch.Generator().manual_seed(seed))
                expect(torch.equal(data["y"], 2 * x), "f(x) is not 2 x")
            judges.judge(probe)(judge)
    probes = types.ModuleType(f"lab.checks.{MODULE}")
    probes.GROUPS = groups
    grader = types.ModuleType(f"lab.judges.{MODULE}")
    grader.JUDGES = judges
    return probes, grader


@pytest.fixture(autouse=True)
def fixture_module(monkeypatch):
    probes, grader = fixture_modules()
    monkeypatch.setitem(sys.modules, probes.__name__, probes)
    monkeypatch.setitem(sys.modules, grader.__name__, grader)
    return probes


def probe_output(group: str, f, seed: int = SEED, module=None) -> str:
    """What the grading kernel prints for `group` when the student's function is f (probes only, no judging)."""
    groups = (module or sys.modules[f"lab.checks.{MODULE}"]).GROUPS
    open_channel(seed)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            groups.run(group, f)
        return out.getvalue()
    finally:
        _CHANNEL.clear()


def graded_cell(*outputs, points: float = 2, source: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source or hidden_test("judged"))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": points}
    cell.outputs = list(outputs)
    return cell


def stdout(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def score(cell, partial_credit: bool = True) -> float:
    grader = SandboxedExecute(partial_credit=partial_credit)
    grader._seed = SEED
    nb = nbformat.v4.new_notebook(cells=[cell])
    grader._score_graded_cells(nb)
    nbformat.validate(nb)
    return determine_grade(nb.cells[0])[0]


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


def doubles_except(wrong: int):
    """f(x) = 2 x for all but `wrong` of the five checks of group `five` (which draw the same x: the i-th call)."""
    calls = []

    def f(x):
        calls.append(1)
        return 3 * x if len(calls) <= wrong else 2 * x
    return f


def test_all_checks_passed_keeps_the_points():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x)))
    assert score(cell) == 2
    assert "[ok  ] judged_0: f doubles its input" in text_of(cell)


@pytest.mark.parametrize("wrong,expected", [(2, 1.2), (5, 0), (1, 1.6)])
def test_partial_credit_is_proportional_to_checks_passed(wrong, expected):
    cell = graded_cell(stdout(probe_output("five", doubles_except(wrong))), source=hidden_test("five"))
    assert score(cell) == pytest.approx(expected)


def test_all_or_nothing_when_partial_credit_is_off():
    some = graded_cell(stdout(probe_output("five", doubles_except(2))), source=hidden_test("five"))
    assert score(some, partial_credit=False) == 0
    assert score(graded_cell(stdout(probe_output("judged", lambda x: 2 * x))), partial_credit=False) == 2


def test_a_failing_visible_test_costs_nothing_of_its_own():
    """The cell's points come from its hidden checks alone: a visible assert that fails is kept as text for the
    student, and the cell scores what its hidden checks give (issue 20: skipping a visible test gains nothing)."""
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="the visible test's message",
                                   traceback=["..."])
    err = nbformat.v4.new_output("stream", name="stderr", text="a warning\n")
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x)), error, err)
    assert score(cell) == 2
    assert "the visible test's message" in text_of(cell)
    partial = graded_cell(stdout(probe_output("five", doubles_except(2))), error, source=hidden_test("five"))
    assert score(partial) == pytest.approx(1.2)


def test_a_score_published_by_the_code_under_test_is_not_read():
    """nbgrader reads a cell's first execute_result as its score (non-numbers as full marks): code under test can
    publish one with sys.displayhook. The grader keeps it as display data and writes the score itself."""
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "'full marks please'"}, execution_count=1)
    cell = graded_cell(forged, stdout(probe_output("five", doubles_except(4))), source=hidden_test("five"))
    assert score(cell) == pytest.approx(0.4)
    forged = nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=1)
    assert score(graded_cell(forged, stdout(probe_output("judged", lambda x: 3 * x)))) == 0


def test_partial_points_to_a_hundredth_and_below_full_marks():
    assert partial_points(2, 2, 3) == 1.33
    assert partial_points(2, 1, 3) == 0.67
    assert partial_points(3, 1, 3) == 1.0
    assert all(partial_points(points, total - 1, total) < points for points in (1, 2, 4) for total in range(2, 400))


def test_wrong_probe_data_fails_the_checks():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 3 * x)))
    assert score(cell) == 0
    assert "[FAIL] judged_0" in text_of(cell) and "f(x) is not 2 x" in text_of(cell)


def test_probe_data_for_another_seed_is_not_accepted():
    """Data recorded in another grading run (another seed) does not match this run's inputs."""
    replayed = probe_output("judged", lambda x: 2 * x, seed=SEED + 1)
    assert score(graded_cell(stdout(replayed))) == 0


@pytest.mark.parametrize("text", [
    "",                                                        # the probe never ran
    f"[probe {MODULE} judged bm90IGEgemlw]\n",                   # not torch.save data
    f"[probe {MODULE} judged !!!]\n",                            # not base64 (no probe line at all)
    f"[probe {MODULE} five AAAA]\n",                             # another group's line
])
def test_missing_or_unreadable_probe_data_scores_zero(text):
    cell = graded_cell(stdout(text + "visible tests passed\n"))
    assert score(cell) == 0
    assert "get no points" in text_of(cell)


def test_a_second_probe_line_for_a_group_fails_it():
    """The last of several lines used to win: a correct line printed after a wrong one (or before) must not."""
    right, wrong = probe_output("judged", lambda x: 2 * x), probe_output("judged", lambda x: 3 * x)
    for text in (wrong + right, right + wrong, right + right):
        cell = graded_cell(stdout(text))
        assert score(cell) == 0
        assert "sent 2 times" in text_of(cell)


def test_a_line_for_a_group_the_cell_does_not_run_fails_the_cell():
    extra = probe_output("five", lambda x: 2 * x)
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x) + extra))
    assert score(cell) == 0
    assert "does not run" in text_of(cell)


def test_data_the_judge_did_not_ask_for_fails_the_check():
    """No count, flag or extra result travels from the kernel: a probe result with more than its judge reads fails
    (the form the judge expects is exactly what it reads)."""
    from autograder.wire import encode
    good = {f"judged_{i}": {"y": 2 * torch.randn(4, generator=torch.Generator().manual_seed(SEED))} for i in range(3)}
    assert score(graded_cell(stdout(f"[probe {MODULE} judged {encode(good)}]\n"))) == 2
    padded = {name: {**data, "passed": 1} for name, data in good.items()}
    assert score(graded_cell(stdout(f"[probe {MODULE} judged {encode(padded)}]\n"))) == 0
    missing = {name: data for name, data in list(good.items())[:2]}
    assert score(graded_cell(stdout(f"[probe {MODULE} judged {encode(missing)}]\n"))) == 0


def test_probe_data_that_is_not_plain_data_is_refused():
    """torch.load(weights_only=True) rebuilds tensors and containers only: a pickled object is refused."""
    import base64
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("PWNED",))

    forged = f"[probe {MODULE} judged " + base64.b64encode(pickle.dumps({"judged_0": Evil()})).decode() + "]\n"
    assert score(graded_cell(stdout(forged))) == 0


def test_expanded_tensors_are_refused_before_any_judge_sees_them():
    """A tensor expanded from one stored number is a few bytes on the wire and any size for the judge (whose
    comparisons would take the grading process minutes and gigabytes): refused, like any non-plain tensor, in the
    reading of the data (issue 20, tests/adversarial/cases/wire_huge_and_types.py)."""
    from autograder.wire import BadProbeData, decode, encode
    x = 2 * torch.randn(4, generator=torch.Generator().manual_seed(SEED))
    huge = torch.zeros(1).expand(10**7, 4)
    for bad in (huge, torch.zeros(1).expand(4), torch.nn.Parameter(x.clone()), x.to_sparse()):
        with pytest.raises(BadProbeData):
            decode(encode({"judged_0": {"y": bad}}))
    assert torch.equal(decode(encode({"judged_0": {"y": x[1:3]}}))["judged_0"]["y"], x[1:3])  # a view: fine
    lines = f"[probe {MODULE} judged {encode({f'judged_{i}': {'y': huge} for i in range(3)})}]\n"
    assert score(graded_cell(stdout(lines))) == 0


def test_a_probe_line_after_output_without_a_line_break_is_read():
    """A right answer whose forward prints without a newline (progress dots, print(..., end="")) or a stderr "\\r"
    before the probe line: the line is still read, and still removed from the notebook (issue 20's adversarial
    run: such a correct RMSNorm scored 0)."""
    cell = graded_cell(stdout("...." + probe_output("judged", lambda x: 2 * x) + "visible tests passed\n"))
    assert score(cell) == 2
    assert "[probe " not in text_of(cell) and "...." in text_of(cell)
    err = nbformat.v4.new_output("stream", name="stderr", text="progress 100%\r")
    assert score(graded_cell(err, stdout(probe_output("judged", lambda x: 2 * x)))) == 2


def test_probe_lines_are_removed_from_the_graded_notebook():
    cell = graded_cell(stdout(probe_output("judged", lambda x: 2 * x) + "visible tests passed\n"))
    score(cell)
    assert "[probe " not in text_of(cell) and "visible tests passed" in text_of(cell)


def test_a_hidden_test_line_naming_an_unknown_group_is_the_course_s_fault():
    with pytest.raises(UnknownCheckGroup, match="no check group 'typo'"):
        score(graded_cell(source=hidden_test("typo")))


def test_rmsnorm_end_to_end_through_the_channel():
    """The real exercise 3 checks: a correct RMSNorm's probe data is judged full marks for this run's seed, and
    the same data offered to a run with another seed scores nothing."""
    from lab.checks import rmsnorm
    from autograder.variants import load_variant, variant_paths
    correct = load_variant(next(p for p in variant_paths("rmsnorm", "correct") if p.stem == "llama_style"))["RMSNorm"]
    data = probe_output("values", correct, module=rmsnorm)
    assert score(graded_cell(stdout(data), source=hidden_test("values", "rmsnorm"))) == 2
    replay = probe_output("values", correct, seed=SEED + 1, module=rmsnorm)
    assert score(graded_cell(stdout(replay), source=hidden_test("values", "rmsnorm"))) == 0


class _Channel:
    """A kernel channel for the tests below: hands out the messages it holds, then none (queue.Empty, as
    jupyter_client's channels do when `timeout` passes); with timeout=None it waits for ever."""

    def __init__(self, *messages):
        self.messages = list(messages)

    async def get_msg(self, timeout=None):
        if self.messages:
            return self.messages.pop(0)
        if timeout is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(timeout)
        raise queue.Empty


def test_nbclient_stops_a_cell_at_timeout_func_through_the_kernel_managers_interrupt():
    """The public ways grading's time limits go through nbclient, and what fails first if nbclient changes them: a
    cell's limit is `timeout_func`'s (what is left of the notebook's budget, here 1 s, not Execute.timeout's
    30 s); at the limit nbclient calls the kernel manager's public `interrupt_kernel` (interrupt_on_timeout); the
    exception JailKernelManager raises when the kernel does not come back goes up to SandboxedExecute unchanged."""
    import time

    from autograder.jail.provisioner import KernelStoppedAfterInterrupt

    interrupts = []

    class Manager:  # JailKernelManager's interrupt when the kernel does not answer again
        async def interrupt_kernel(self):
            interrupts.append(time.monotonic())
            raise KernelStoppedAfterInterrupt("stopped")

    class Client:  # a kernel that runs the cell for ever: no reply, no output
        shell_channel, iopub_channel = _Channel(), _Channel()

        def execute(self, code, **kwargs):
            return "execute-1"

        async def is_alive(self):
            return True

    cell = nbformat.v4.new_code_cell("while True: pass")
    grader = SandboxedExecute(timeout=30, notebook_timeout=100)
    grader.nb, grader.km, grader.kc = nbformat.v4.new_notebook(cells=[cell]), Manager(), Client()
    grader._output_used, grader._started = {}, time.monotonic() - 99
    started = time.monotonic()
    with pytest.raises(KernelStoppedAfterInterrupt):
        asyncio.run(grader.async_execute_cell(cell, 0))
    assert len(interrupts) == 1 and 0.9 <= interrupts[0] - started < 10
    assert grader._cell_limit == 1


@pytest.mark.parametrize("protocol", ["5.4", "5.0", "4.1"])
def test_the_ready_client_handles_kernel_info_as_jupyter_clients_own_wait_for_ready(protocol):
    """ReadyKernelClient.wait_for_ready stops waiting sooner than jupyter_client's and handles the kernel_info reply
    with public names (ReadyKernelClient.adapt_to): both leave the client in the same state (the session's
    protocol adaptation), for a kernel of this protocol and an older one. Fails when jupyter_client's own
    handling of the reply changes."""
    from jupyter_client import KernelManager
    from jupyter_client.asynchronous import AsyncKernelClient

    from autograder.jail.provisioner import ReadyKernelClient

    class Fake(ReadyKernelClient):
        shell_channel = iopub_channel = None  # the properties, replaced by the fakes set below

        def kernel_info(self):
            return "info-1"

    def reply_and_status():
        parent = {"msg_id": "info-1"}
        return ([{"msg_type": "kernel_info_reply", "parent_header": parent, "header": {},
                  "content": {"status": "ok", "protocol_version": protocol}}],
                [{"msg_type": "status", "parent_header": parent, "content": {"execution_state": state}}
                 for state in ("busy", "idle")])

    adapted = {}
    for name, wait_for_ready in (("ours", ReadyKernelClient.wait_for_ready),
                                 ("jupyter_client's", AsyncKernelClient.wait_for_ready)):
        client = Fake(parent=KernelManager())
        shell, iopub = reply_and_status()
        client.shell_channel, client.iopub_channel = _Channel(*shell), _Channel(*iopub)
        asyncio.run(wait_for_ready(client, timeout=5))
        adapted[name] = client.session.adapt_version
    assert adapted["ours"] == adapted["jupyter_client's"] == (4 if protocol == "4.1" else 0)


def test_a_cells_output_is_capped_in_the_grader_as_it_arrives():
    """The kernel's own cap can be bypassed from inside the kernel (a write starting like a probe line, the stream
    class's write): the grader keeps at most max_output_chars per cell (plus room for its probe lines)."""
    grader = SandboxedExecute(max_output_chars=1000)
    grader.reset_execution_trackers()
    grader.clear_before_next_output = False
    grader._output_used = {}
    grader.nb = nbformat.v4.new_notebook(cells=[graded_cell()])

    def message(text):
        return {"msg_type": "stream", "content": {"name": "stdout", "text": text},
                "parent_header": {"msg_id": "m"}, "header": {"msg_type": "stream"}}

    outs = []
    for _ in range(20):
        grader.output(outs, message("[probe " + "x" * 1_000_000 + "\n"), None, 0)
    kept = sum(len(o.get("text", "")) for o in outs)
    from autograder.wire import MAX_ENCODED_CHARS
    assert kept <= 1000 + MAX_ENCODED_CHARS + 1000 + 200 < 20_000_000
    assert "cut by the grader" in outs[-1].text
