"""The instructor's report page: every title and label is inside the page (a title wider than its axes used to
run off the right-hand column)."""
import nbformat
import pytest

from lab.checks import checkpointing, decoder, kv_cache, rmsnorm
from autograder.paths import ASSIGNMENT, RELEASE
from autograder.report import CheckOutcomes, ClassScores, failure_rows, report_figure

# The lab's own notebooks, test cells and check names: the lengths of these labels decide the layout.
CHECKS = {"01_decoder_block": decoder, "02_gradient_checkpointing": checkpointing, "03_rmsnorm": rmsnorm,
          "04_tiny_language_model": kv_cache}
NOTEBOOKS = sorted(CHECKS)
STUDENTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def graded_cells(notebook: str) -> list[str]:
    nb = nbformat.read(str(RELEASE / ASSIGNMENT / f"{notebook}.ipynb"), as_version=4)
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def sample_class() -> tuple[ClassScores, list[dict]]:
    scores = ClassScores(NOTEBOOKS, STUDENTS)
    failures = {}
    for i, notebook in enumerate(NOTEBOOKS):
        scores.max_auto[notebook], scores.max_total[notebook] = 8, 10  # as the lab: 2 points graded by hand
        for j, student in enumerate(STUDENTS):
            scores.score[(student, notebook)] = (i + j) % 9
        for cell in graded_cells(notebook):
            scores.cell_scores[(notebook, cell)] = [0, 1, 1]
            scores.cell_max[(notebook, cell)] = 1
        failures[notebook] = {check: CheckOutcomes(failed=STUDENTS[:k % 9], ran=STUDENTS)
                              for k, check in enumerate(CHECKS[notebook].GROUPS.checks)}
    return scores, failure_rows(failures)


@pytest.fixture(scope="module")
def page():
    import matplotlib.pyplot as plt

    fig = report_figure(*sample_class())
    fig.canvas.draw()  # runs the constrained layout
    yield fig
    plt.close(fig)


def test_every_title_is_inside_the_page(page):
    renderer = page.canvas.get_renderer()
    inside = page.bbox
    titles = [ax.title for ax in page.axes]
    assert len(titles) == 3 * len(NOTEBOOKS)
    for title in titles:
        box = title.get_window_extent(renderer)
        assert title.get_text() and inside.x0 <= box.x0 and box.x1 <= inside.x1 and box.y1 <= inside.y1, (
            f"title {title.get_text()!r} at x {box.x0:.0f}..{box.x1:.0f} of a {inside.x1:.0f}-pixel page")


def test_no_two_titles_overlap(page):
    renderer = page.canvas.get_renderer()
    boxes = [(ax.title.get_text(), ax.title.get_window_extent(renderer)) for ax in page.axes]
    for i, (text_a, a) in enumerate(boxes):
        for text_b, b in boxes[i + 1:]:
            assert not a.overlaps(b), (text_a, text_b)


def test_tick_labels_are_inside_the_page(page):
    renderer = page.canvas.get_renderer()
    for ax in page.axes:
        for label in ax.get_yticklabels():
            if label.get_text():
                box = label.get_window_extent(renderer)
                assert box.x0 >= page.bbox.x0 - 0.5, label.get_text()
