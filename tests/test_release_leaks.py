"""Nothing instructor-only reaches release/: no solution code, hidden test, mark scheme or repository import; every
solution cell is released as a stub; and no solution code of one notebook is readable in another notebook a student
is given (the other release notebooks, with the provided code pasted into them, and the lessons)."""
import re

import nbformat
import pytest

from autograder.notebook_text import solution_cell_code
from autograder.notebook_text import build_notebook
from autograder.paths import ASSIGNMENT, LESSONS, RELEASE, SOURCE, assignment_notebook_names

MARKERS = re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS|MARK SCHEME|Mark scheme|autograder")


def instructor_only_lines(text_source):
    """Every substantial line inside a solution or hidden-test region of the source notebook, except lines that
    the notebook also shows outside such regions (e.g. `self.dropout = nn.Dropout(dropout)` in provided code)."""
    inside_lines, outside_lines = [], set()
    for cell in build_notebook(text_source).cells:
        inside = False
        for line in cell.source.splitlines():
            if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)", line):
                inside = True
            elif re.search(r"END (SOLUTION|HIDDEN TESTS)", line):
                inside = False
            elif inside and len(line.strip()) > 12:
                inside_lines.append(line.strip())
            else:
                outside_lines.add(line.strip())
    return [line for line in inside_lines if line not in outside_lines]


@pytest.mark.parametrize("name", assignment_notebook_names())
def test_release_notebook_has_no_instructor_text(name):
    release_text = (RELEASE / ASSIGNMENT / f"{name}.ipynb").read_text()
    assert not MARKERS.search(release_text), MARKERS.search(release_text).group(0)
    secret = instructor_only_lines(SOURCE / ASSIGNMENT / f"{name}.py")
    assert secret, "the source notebook has no solution region: is this test looking at the right file?"
    release_sources = "\n".join(c.source for c in nbformat.read(str(RELEASE / ASSIGNMENT / f"{name}.ipynb"), 4).cells)
    leaked = [line for line in secret if line in release_sources]
    assert not leaked, f"solution or hidden-test lines in release/: {leaked[:3]}"


def test_every_file_under_release_is_clean():
    files = [p for p in RELEASE.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert not MARKERS.search(path.read_text(errors="replace")), path


# --- no answer readable anywhere a student looks -------------------------------------------------------------

def student_visible_notebooks():
    """Every notebook a student is given: the release notebooks (all released together) and the lessons."""
    return sorted((RELEASE / ASSIGNMENT).glob("*.ipynb")) + sorted(LESSONS.glob("[0-9]*.ipynb"))


def contains(text, line):
    """`line` occurs in `text`, not as the tail or head of a longer name (`seconds = ...` in `train_seconds = ...`)."""
    return re.search(r"(?<![\w.])" + re.escape(line) + r"(?!\w)", text) is not None


def notebook_text(notebook_path):
    return "\n".join(cell.source for cell in nbformat.read(str(notebook_path), 4).cells)


# Solution lines that other notebooks may show: each is spelled out by the exercise's own API text (the block's
# parts and their order, stated in words and code before the solution cell), so seeing it elsewhere tells a student
# nothing the exercise does not. Lesson 2's encoder block and the provided encoder (02) and language model (04) are
# built from the same parts. Anything else found in another student-visible notebook is a leak.
STATED_BY_THE_API = {
    # 4a assembles a pre-norm block from parts the student has met: its FFN and residual lines are those of the
    # provided encoder layer (02) and lesson 2's block; what 4a asks is the assembly with the student's own norm
    # and the causal mask, which no other notebook shows
    "04_tiny_language_model": {
        "return x + self.dropout(self.ffn(self.norm2(x)))",
        "self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))",
    },
    "01_decoder_block": {
        "d_ff = 4 * d_model if d_ff is None else d_ff",
        "self.ffn = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))",
        "self.norm1 = nn.LayerNorm(d_model)",
        "self.norm2 = nn.LayerNorm(d_model)",
        "h = self.norm1(x)",
    },
}


@pytest.mark.parametrize("name", assignment_notebook_names())
def test_every_solution_stub_differs_from_its_answer(name):
    """Each solution cell of the release holds a stub, not the instructor's answer (code and written answers)."""
    source_cells = {cell.metadata["nbgrader"]["grade_id"]: cell
                    for cell in build_notebook(SOURCE / ASSIGNMENT / f"{name}.py").cells
                    if cell.metadata.get("nbgrader", {}).get("solution")}
    assert source_cells, f"{name} has no solution cell"
    released = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell
                for cell in nbformat.read(str(RELEASE / ASSIGNMENT / f"{name}.ipynb"), 4).cells}
    for grade_id, cell in source_cells.items():
        assert grade_id in released, f"{name}: solution cell {grade_id} is not in the release"
        answer = solution_cell_code(cell.source).strip()
        stub = released[grade_id].source.strip()
        assert answer and stub != answer, f"{name}: the release's {grade_id} holds the answer"
        answer_lines = [line.strip() for line in answer.splitlines() if len(line.strip()) > 12]
        stub_lines = {line.strip() for line in stub.splitlines()}
        assert not all(line in stub_lines for line in answer_lines), f"{name}: {grade_id}'s stub contains its answer"


@pytest.mark.parametrize("name", assignment_notebook_names())
def test_no_solution_code_in_any_other_student_notebook(name):
    """No line of this notebook's solutions (beyond what its API text states) is readable in another notebook a
    student is given: another release notebook (provided code is pasted into them), or a lesson."""
    secret = set(instructor_only_lines(SOURCE / ASSIGNMENT / f"{name}.py")) - STATED_BY_THE_API.get(name, set())
    own_release = RELEASE / ASSIGNMENT / f"{name}.ipynb"
    leaks = {}
    for path in student_visible_notebooks():
        if path != own_release:
            text = notebook_text(path)
            found = sorted(line for line in secret if contains(text, line))
            if found:
                leaks[f"{path.parent.name}/{path.name}"] = found[:3]
    assert not leaks, f"solution lines of {name} readable elsewhere: {leaks}"


def test_the_lines_stated_by_the_api_are_solution_lines():
    """The allowance above names real solution lines, so that it cannot hide a leak by a typo."""
    for name, lines in STATED_BY_THE_API.items():
        assert lines <= set(instructor_only_lines(SOURCE / ASSIGNMENT / f"{name}.py")), name
