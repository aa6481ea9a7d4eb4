"""The student's path through every release notebook, in JupyterLab in a real (headless) browser.

For each notebook in release/transformer_block/ (new notebooks are picked up by themselves):
open it in JupyterLab, run it untouched (the stubs raise NotImplementedError: the student sees it; then cell by
cell: every visible test fails with a named exception), type the
reference solution into the solution cells through the editor, restart and run all (no error anywhere, the visible
tests pass), press nbgrader's Validate button and read its verdict. Then open the instructor's Formgrader page.
Screenshots of each moment: test-artifacts/browser/<notebook>/NN-moment.png.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from autograder.notebook_text import reference_answers
from autograder.paths import ASSIGNMENT

from .browser_env import ARTIFACTS, release_notebooks

RUN_ALL_TIMEOUT_S = 150  # one run of a whole notebook in the browser (about 10-30 s of kernel time each)
VALIDATE_TIMEOUT_S = 180  # nbgrader validate runs the notebook again, in a kernel of its own
# The long waits of one notebook share this budget (small steps have Playwright's 30 s each): a hung kernel
# fails the test within minutes, not hours. About 70 s are used on a 2-core machine for 03_rmsnorm.
NOTEBOOK_BUDGET_S = float(os.environ.get("BROWSER_NOTEBOOK_BUDGET_S", "300"))


class Budget:
    def __init__(self, seconds: float):
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def left(self, cap_s: float) -> float:
        """Seconds the next wait may take: its own cap, or what is left of the notebook's budget."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"the notebook used up its time budget of {self.seconds:.0f} s (BROWSER_NOTEBOOK_BUDGET_S)")
        return min(cap_s, remaining)


class Moments:
    """Numbered screenshots of one notebook's path, in a folder emptied first, and the seconds between them."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        self.started = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def __call__(self, name: str, show=None) -> Path:
        now = time.monotonic()
        self.seconds[name] = round(now - self.last, 1)
        if show is not None:
            show.scroll_into_view_if_needed()
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.last = time.monotonic()
        (self.folder / "seconds.json").write_text(json.dumps(
            {**self.seconds, "total": round(self.last - self.started, 1)}, indent=1))
        return path


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def printed_messages(cell_source: str) -> list[str]:
    """The plain string literals a test cell prints (e.g. "visible test passed"): the student must see them."""
    return re.findall(r'^\s*print\("([^"{}\\]+)"\)\s*$', cell_source, flags=re.M)


# ---------------------------------------------------------------- JupyterLab, as a student drives it


def cells(page):
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")


def wait_kernel_idle(page, timeout_s: float = 90) -> None:
    """The status bar says "<kernel name> | Idle" (not "No Kernel | Initializing", not "Busy")."""
    page.wait_for_function(
        "() => { const t = (document.querySelector('#jp-main-statusbar') || {}).textContent || ''; "
        "return /\\|\\s*Idle/.test(t) && !t.includes('No Kernel'); }",
        timeout=timeout_s * 1000)


def menu(page, top: str, item: str, tries: int = 3) -> None:
    """Open the menu `top` and click its entry `item`. A click on the menu bar right after Escape closed a menu can
    toggle it shut again instead of opening it (seen on the hub under load: the bar item stayed highlighted and no
    menu opened), so the bar is clicked again until the entry shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    bar_item = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$"))
    entry = page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}")).first
    for attempt in range(tries):
        bar_item.click()
        try:
            entry.wait_for(state="visible", timeout=10_000)
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")
            continue
        entry.click()
        return


def wait_run_finished(page, timeout_s: float) -> None:
    """Run All queues every cell ([*]); it is done when no prompt shows [*] any more and the kernel is idle."""
    busy = ("() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
            ".jp-InputPrompt')).some(p => p.textContent.includes('*'))")
    try:
        page.wait_for_function(busy, timeout=15_000)
    except Exception:  # finished before we looked
        pass
    page.wait_for_function(f"() => !({busy})()", timeout=timeout_s * 1000)
    wait_kernel_idle(page)


def run_one_cell(page, cell_locator, timeout_s: float = 60) -> None:
    """Select the cell (click its prompt) and press Ctrl+Enter, as a student runs one cell."""
    cell_locator.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    cell_locator.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).wait_for(timeout=timeout_s * 1000)
    wait_kernel_idle(page)


def error_outputs(cell_locator):
    # JupyterLab renders tracebacks and stderr with this mime type.
    return cell_locator.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')


def type_into_cell(page, cell_locator, text: str, markdown: bool) -> None:
    """Click into the cell's editor, select everything, type the new content (what a student's paste does)."""
    cell_locator.scroll_into_view_if_needed()
    if markdown:
        cell_locator.locator(".jp-MarkdownOutput").dblclick()  # a rendered markdown cell opens its editor
    editor = cell_locator.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Escape")  # back to command mode


def save(page) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')", timeout=20_000)


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("notebook", release_notebooks(), ids=lambda p: p.stem)
def test_student_path(notebook, lab, page):
    release = nbformat.read(notebook, as_version=4)
    on_disk = lab.root / ASSIGNMENT / notebook.name
    # grade_id -> the source's solution cell with its BEGIN/END SOLUTION lines removed (what a perfect student types)
    solutions = reference_answers(notebook.stem)
    shot = Moments(page, ARTIFACTS / notebook.stem)
    budget = Budget(NOTEBOOK_BUDGET_S)

    # 1. Open the notebook; nbgrader's extension is there (the Validate button, the Nbgrader menu).
    page.goto(lab.url(f"lab/tree/{ASSIGNMENT}/{notebook.name}"), wait_until="domcontentloaded")
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(cells(page)).to_have_count(len(release.cells), timeout=budget.left(60) * 1000)
    wait_kernel_idle(page)
    validate = page.locator(".jp-NotebookPanel:visible .validate-button")
    expect(validate).to_be_visible()
    expect(validate).to_contain_text("Validate")
    expect(page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible()
    shot("opened")

    # 2. Run all, untouched: the first stub's NotImplementedError stops the run, with a readable traceback.
    menu(page, "Run", "Run All Cells")
    wait_run_finished(page, budget.left(RUN_ALL_TIMEOUT_S))
    failing = cells(page).filter(has=page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    assert failing.count() >= 1, "the untouched notebook ran without any error: its stubs do not raise"
    first_error = error_outputs(failing.first).first
    expect(first_error).to_be_visible()
    expect(first_error).to_contain_text("NotImplementedError")
    shot("untouched-run-all-stops", show=failing.first)

    # Run All stopped there; the student goes on cell by cell (Ctrl+Enter on each cell not run yet, in order):
    # every visible test fails, with a visible, named exception.
    test_indices = [i for i, c in enumerate(release.cells)
                    if nbgrader_meta(c).get("grade") and c.cell_type == "code" and has_code(c.source)]
    assert test_indices, "a release notebook without visible tests"
    for index, cell in enumerate(release.cells):
        if cell.cell_type == "code" and has_code(cell.source):
            located = cells(page).nth(index)
            if not re.search(r"\[\d+\]", located.locator(".jp-InputPrompt").inner_text()):
                run_one_cell(page, located, timeout_s=budget.left(RUN_ALL_TIMEOUT_S))
    for index in test_indices:
        error = error_outputs(cells(page).nth(index))
        grade_id = nbgrader_meta(release.cells[index])["grade_id"]
        assert error.count(), f"the visible test {grade_id} passes on the untouched notebook"
        expect(error.first).to_be_visible()
        expect(error.first).to_contain_text(re.compile(r"\w+(Error|Exception)"))
    shot("untouched-visible-tests-fail", show=cells(page).nth(test_indices[-1]))

    # 3. Type the reference solution into every solution cell, through the editor; save.
    solution_indices = [i for i, c in enumerate(release.cells) if nbgrader_meta(c).get("solution")]
    assert solution_indices, "a release notebook without solution cells"
    for index in solution_indices:
        cell = release.cells[index]
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert grade_id in solutions, f"solution cell {grade_id} of the release is not a solution cell of source/"
        type_into_cell(page, cells(page).nth(index), solutions[grade_id], markdown=cell.cell_type == "markdown")
        shot(f"solution-typed-{grade_id}", show=cells(page).nth(index))
    save(page)
    saved = nbformat.read(on_disk, as_version=4)
    for index in solution_indices:
        grade_id = nbgrader_meta(release.cells[index])["grade_id"]
        assert saved.cells[index].source == solutions[grade_id], f"the editor did not keep what was typed in {grade_id}"

    # 4. Restart the kernel and run all: no error anywhere, each visible test prints its message.
    menu(page, "Kernel", "Restart Kernel and Run All Cells")
    page.locator(".jp-Dialog-button", has_text=re.compile("^Restart$")).click()
    wait_run_finished(page, budget.left(RUN_ALL_TIMEOUT_S))
    save(page)  # what the page holds, outputs included, to tell an error from a warning on stderr
    after_run = nbformat.read(on_disk, as_version=4)
    for index, cell in enumerate(after_run.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        is_test = bool(nbgrader_meta(release.cells[index]).get("grade"))
        if errors or (stderr and is_test):
            shot(f"unexpected-{'error' if errors else 'stderr'}-in-cell-{index}", show=cells(page).nth(index))
            shown = error_outputs(cells(page).nth(index)).first.inner_text()[:2000]
            pytest.fail(f"cell {index} ({nbgrader_meta(cell).get('grade_id', 'not graded')}) shows "
                        f"{'an error' if errors else 'stderr output in a test cell'} after the correct "
                        f"solution (nbgrader zeroes a test cell with either):\n{shown}")
        if stderr:  # a warning in a demonstration cell: the student sees a pink box; not a failure
            warnings.warn(f"{notebook.name} cell {index} prints to stderr after the correct solution: "
                          f"{''.join(o.text for o in stderr)[:300]}")
        if has_code(cell.source):
            prompt = cells(page).nth(index).locator(".jp-InputPrompt").inner_text()
            assert re.search(r"\[\d+\]", prompt), f"cell {index} did not run (prompt {prompt!r})"
    for index in test_indices:
        for message in printed_messages(release.cells[index].source):
            expect(cells(page).nth(index).locator(".jp-OutputArea-output")).to_contain_text(message)
    shot("solution-run-all-tests-pass", show=cells(page).nth(test_indices[0]))

    # 5. Validate (nbgrader's button): it saves, runs the notebook again server-side and shows its verdict.
    validate.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    expect(dialog).to_be_visible(timeout=budget.left(VALIDATE_TIMEOUT_S) * 1000)
    verdict = dialog.locator(".jp-Dialog-body").inner_text()
    shot("validate-verdict")
    assert "Success! Your notebook passes all the tests." in verdict, f"Validate says:\n{verdict[:3000]}"
    dialog.locator(".jp-Dialog-button", has_text="Ok").click()


def test_formgrader_page_loads(instructor_lab, instructor_page):
    """The instructor's Formgrader (nbgrader's server extension at /formgrader) renders the course's assignment."""
    expect = pytest.importorskip("playwright.sync_api").expect
    page = instructor_page
    folder = ARTIFACTS / "formgrader"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    response = page.goto(instructor_lab.url("formgrader"), wait_until="domcontentloaded")
    assert response is not None and response.ok, f"/formgrader answered {response and response.status}"
    expect(page.get_by_text("Manage Assignments").first).to_be_visible()
    # The course root comes from the course's nbgrader_config.py; the assignment from its source/ folder.
    expect(page.locator("table tr", has_text=ASSIGNMENT).first).to_be_visible(timeout=60_000)
    page.screenshot(path=str(folder / "01-manage-assignments.png"))
