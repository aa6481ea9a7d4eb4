"""Nothing instructor-only reaches release/: no solution code, hidden test, mark scheme or repository import."""
import re

import nbformat
import pytest

from autograder.notebook_text import build_notebook
from autograder.paths import ASSIGNMENT, RELEASE, SOURCE, assignment_notebook_names

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
