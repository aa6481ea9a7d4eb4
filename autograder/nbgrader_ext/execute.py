"""nbgrader's Execute, sandboxed: `c.Autograde.autograde_preprocessors` names SandboxedExecute instead of Execute.

- Each notebook's kernel is started through jupyter_client's public extension point, a kernel provisioner
  (autograder/jail/provisioner.py): Jupyter's ipc transport (Unix sockets in a private folder), the launcher in
  autograder/jail/launch.py as the kernel command, interrupts sent as messages.
- A kernel that dies (os._exit, a signal, a resource limit) no longer ends the notebook with nbgrader's generic
  error and a removed autograded/ folder: the cell that was running gets an error output saying what happened, the
  graded cells after it get "not run", and the notebook is graded and saved like any other.
- A cell that does not answer within Execute.timeout is interrupted (nbclient's `interrupt_on_timeout`); when the
  kernel does not come back from the interrupt, its kernel manager kills it (JailKernelManager.interrupt_kernel,
  autograder/jail/provisioner.py). The whole notebook also has a wall-clock budget (notebook_timeout), given to
  nbclient through its public `timeout_func`: a cell gets what is left of it.
- Hidden checks: the kernel only probes (runs the student's code on inputs built from a seed this class draws per
  notebook) and prints the data; the judges (judge.py) decide every check here, out of the student's reach, write
  each check's result line into the cell and remove the data. A graded cell's score comes from its hidden checks
  alone: points x passed / checks (`partial_credit`, on by default; False: all or nothing), written as the cell's
  last output, the value nbgrader reads. Its visible asserts carry no points of their own: an error they raise is
  kept in the cell as text for the student to read (in the feedback), not as an error output that nbgrader would
  score 0, so a failing visible test costs nothing beyond the hidden checks it shares a mistake with, and skipping
  one gains nothing.
- Outputs nbgrader would read as a score and that this class did not write are taken away: nbgrader scores a
  graded cell by its first `execute_result` (any text that is not a number counts as full marks), and code under
  test can publish one (`sys.displayhook`). They are kept, as display data, for the feedback.
"""
from __future__ import annotations

import secrets
import signal
import time

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Integer, default

from nbgrader.preprocessors import Execute

from ..jail import require
from ..jail.limits import KernelLimits
from ..jail.provisioner import KernelStoppedAfterInterrupt, jail_kernel_manager
from ..jail.zygote_host import FAST_START_ENV
from ..protocol import PROBE_PREFIX
from ..wire import MAX_ENCODED_CHARS
from .judge import CALL, group_calls, judge_cell, on_own_lines

LIMITS = KernelLimits()


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"])


class SandboxedExecute(Execute):
    """nbgrader's Execute with the kernel in the sandbox, kernel deaths survived, graded cells scored by the judges."""

    # the defaults are KernelLimits' (autograder/jail/limits.py), the one list of them
    memory_mb = Integer(LIMITS.memory_mb, help="Address-space limit of a grading kernel, MiB").tag(config=True)
    cpu_seconds = Integer(LIMITS.cpu_seconds, help="CPU-time limit of a grading kernel (all cells), seconds"
                          ).tag(config=True)
    max_processes = Integer(LIMITS.max_processes, help="Process/thread limit of a grading kernel").tag(config=True)
    max_file_mb = Integer(LIMITS.max_file_mb, help="Largest file a grading kernel may write, MiB").tag(config=True)
    max_output_chars = Integer(LIMITS.max_output_chars, help="stdout+stderr of one cell that reach nbgrader"
                               ).tag(config=True)
    threads = Integer(LIMITS.threads, help="torch/OpenMP threads of a grading kernel").tag(config=True)
    notebook_timeout = Integer(900, help="Wall-clock budget of one notebook (all cells), seconds").tag(config=True)
    partial_credit = Bool(True, help="A graded cell whose hidden checks partly pass scores points x passed / "
                                     "checks; False: all or nothing").tag(config=True)

    fast_start = Bool(True, help="Fork each notebook's kernel from a warm Python that has torch and the checks "
                                 "imported (the zygote, autograder/jail/zygote.py), in its own namespaces, uid "
                                 "and /tmp; False: start Python and import torch for every notebook").tag(config=True)

    @default("shutdown_kernel")
    def _shutdown_kernel_default(self):
        return "immediate"  # the kernel's state is thrown away: no need to wait for a graceful exit (about 2 s)

    @default("timeout_func")
    def _timeout_func_default(self):
        return self._cell_timeout  # nbclient's public hook: a cell gets what is left of the notebook's budget

    @property
    def limits(self) -> KernelLimits:
        return KernelLimits(memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds, max_processes=self.max_processes,
                            max_file_mb=self.max_file_mb, max_output_chars=self.max_output_chars,
                            threads=self.threads)

    def _settings_env(self) -> dict[str, str]:
        return {**self.limits.kernel_env(), "AG_SB_MODE": "sandbox" if self._sandboxed else "unsandboxed",
                FAST_START_ENV: "1" if self.fast_start else "0"}

    def create_kernel_manager(self):
        self._sandboxed = require(self.config)  # Jail.unsandboxed, from the course's configuration
        if not self._sandboxed:
            self.log.warning("!" * 100)
            self.log.warning("GRADING UNSANDBOXED (Jail.unsandboxed): student code runs with the grader's rights")
            self.log.warning("!" * 100)
        self._seed = secrets.randbits(62)  # the probes' inputs: fresh per notebook, so no answer is replayed
        env = {**self._settings_env(), "AG_SB_JUDGE_SEED": str(self._seed)}
        self.km = jail_kernel_manager(config=self.config, env=env)
        return self.km

    # --- execution, surviving a dead or stuck kernel ---------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self._output_used: dict[int, int] = {}
        self._seed = None
        self._started = time.monotonic()
        self._current = None
        self._cell_limit = None
        self._death_reason = None
        try:
            super().preprocess(nb, resources, km)
        except DeadKernelError as exc:
            if isinstance(exc, KernelStoppedAfterInterrupt) and not self._death_reason:
                self._death_reason = (f"this cell ran longer than {self._cell_limit} s and did not stop when "
                                      "interrupted, so its kernel was stopped")
            self._record_death(nb)
        finally:
            self._current = None
        if self._seed is not None:  # the kernel was started: its probes used this seed
            self._score_graded_cells(nb)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        self._current = index
        if time.monotonic() - self._started > self.notebook_timeout:
            self._death_reason = (f"the notebook used up its time budget ({self.notebook_timeout} s) and its "
                                  "kernel was stopped")
            raise DeadKernelError("notebook time budget used up")
        return super().preprocess_cell(cell, resources, index)

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's handler of one output message, with each cell's output capped here, in the grader, as it
        arrives: the kernel caps its own streams too (boot.cap_output), but code in the kernel can write past that
        cap, and nbgrader would hold and save whatever reaches it. Beyond `max_output_chars` (plus room for the
        cell's probe lines) a cell's output is dropped, with one line saying so."""
        used = self._output_used.get(cell_index, 0)
        allowed = self.max_output_chars + self._probe_room(cell_index)
        size = _message_size(msg)
        if used + size > allowed:
            if used <= allowed:
                self._output_used[cell_index] = allowed + 1
                outs.append(NotebookNode(output_type="stream", name="stdout", text=(
                    f"\n[the rest of this cell's output was cut by the grader: over {allowed} characters]\n")))
            return None
        self._output_used[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def _probe_room(self, cell_index: int) -> int:
        try:
            source = self.nb.cells[cell_index].source
        except (AttributeError, IndexError):
            return 0
        return len(CALL.findall(source)) * (MAX_ENCODED_CHARS + 1000)

    def _cell_timeout(self, cell) -> int:
        """The time limit of the cell about to run (nbclient asks once per cell): Execute.timeout, or what is left
        of the notebook's budget when that is less."""
        left = max(1, int(self.notebook_timeout - (time.monotonic() - self._started)))
        self._cell_limit = left if not self.timeout or self.timeout < 0 else min(self.timeout, left)
        return self._cell_limit

    def _exit_description(self) -> str:
        code = None
        try:
            process = getattr(self.km.provisioner, "process", None) if self.km else None
            code = process.poll() if process is not None else None
        except Exception:  # noqa: BLE001
            pass
        limits = (f"limits: {self.memory_mb} MiB of memory, {self.cpu_seconds} s of CPU, {self.max_processes} "
                  f"processes")
        if code is None:
            return f"the kernel stopped while running this cell ({limits})"
        if code < 0 or code > 128:
            signum = -code if code < 0 else code - 128
            try:
                name = signal.Signals(signum).name
            except ValueError:
                name = str(signum)
            if name == "SIGXCPU":
                return f"the kernel used up its CPU time ({self.cpu_seconds} s) and was stopped"
            return f"the kernel was killed by {name} while running this cell ({limits})"
        return (f"the kernel exited with status {code} while running this cell (os._exit, a crash, or a "
                f"resource limit; {limits})")

    def _record_death(self, nb) -> None:
        index = self._current if self._current is not None else len(nb.cells)
        reason = self._death_reason or self._exit_description()
        self.log.warning("Kernel died in cell %s: %s", index, reason)
        if index < len(nb.cells) and nb.cells[index].cell_type == "code":
            nb.cells[index].outputs.append(error_output("KernelDied", reason))
        for cell in nb.cells[index + 1:]:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                cell.outputs.append(error_output("NotRun", f"not run: in an earlier cell, {reason}"))

    # --- scores -----------------------------------------------------------------------------------------------

    def _score_graded_cells(self, nb) -> None:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            for output in cell.outputs:
                if output.output_type == "execute_result":  # not ours: shown, never read as a score
                    output.output_type = "display_data"
                    output.pop("execution_count", None)
            calls = group_calls(cell.source)
            if not calls:
                continue  # a graded cell without hidden checks: nbgrader's own rule (errors score 0)
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            judgement = judge_cell(calls, text, self._seed)
            strip_probe_lines(cell)
            keep_errors_as_text(cell)
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout",
                                             text="".join(f"{line}\n" for line in judgement.lines)))
            points = float(meta.get("points", 0))
            passed, total = judgement.passed, judgement.total
            if passed == total:
                score = points
            elif self.partial_credit:
                score = partial_points(points, passed, total)
            else:
                score = 0.0
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=(
                f"hidden checks: {passed} of {total} passed, {score:g} of {points:g} points"
                f"{'' if self.partial_credit or passed == total else ' (this course grades each cell all or nothing)'}\n")))
            # last: the value nbgrader reads as the cell's score (no error output is left to make it 0)
            cell.outputs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                             data={"text/plain": f"{score:g}"}))


def _message_size(msg: dict) -> int:
    """Characters an output message would add to the notebook."""
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    if msg.get("msg_type") in ("display_data", "update_display_data", "execute_result"):
        return sum(len(str(value)) for value in content.get("data", {}).values())
    if msg.get("msg_type") == "error":
        return sum(len(str(line)) for line in content.get("traceback", [])) + len(str(content.get("evalue", "")))
    return 0


def keep_errors_as_text(cell) -> None:
    """A graded cell's errors and stderr (a failing visible assert, a kernel that died) stay readable in the feedback
    as plain output, so that nbgrader does not score the cell 0 for them: its score is the judges'."""
    for output in cell.outputs:
        if output.output_type == "error":
            output.output_type, output.name = "stream", "stdout"
            output.text = (f"{output.pop('ename', 'Error')}: {output.pop('evalue', '')}\n(the visible test above "
                           "failed or the cell stopped; the hidden checks decide the points)\n")
            output.pop("traceback", None)
        elif output.output_type == "stream" and output.get("name") == "stderr":
            output.name = "stdout"


def strip_probe_lines(cell) -> None:
    """Probe data is the judge's input, not something to store or show: drop it from the cell's outputs."""
    kept = []
    for output in cell.outputs:
        if output.output_type == "stream" and PROBE_PREFIX in output.get("text", ""):
            output.text = "".join(line for line in on_own_lines(output.text).splitlines(keepends=True)
                                  if not line.startswith(PROBE_PREFIX))
            if not output.text:
                continue
        kept.append(output)
    cell.outputs = kept


def partial_points(points: float, passed: int, total: int) -> float:
    """points x passed / total, to a hundredth; always below the cell's points when a check failed."""
    score = round(points * passed / total, 2)
    return min(score, round(points - 0.01, 2)) if passed < total else score


