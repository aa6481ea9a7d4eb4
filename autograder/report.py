"""The instructor's report: scores per student and notebook, and what the class got wrong.

Reads the gradebook (scores per graded cell) and the autograded notebooks (which hidden checks failed: every
check group prints one `[ok  ]` / `[FAIL]` line per check), and writes a one-page PNG and a CSV of check
failure rates.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .protocol import parse_check_lines


@dataclass
class ClassScores:
    notebooks: list[str]
    students: list[str]
    score: dict[tuple[str, str], float] = field(default_factory=dict)  # (student, notebook) -> autograded score
    max_auto: dict[str, float] = field(default_factory=dict)  # notebook -> autogradable points
    max_total: dict[str, float] = field(default_factory=dict)  # notebook -> all points, manual ones included
    cell_scores: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (notebook, cell) -> scores
    cell_max: dict[tuple[str, str], float] = field(default_factory=dict)


def read_scores(db_url: str, course_id: str, assignment: str) -> ClassScores:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        notebooks = sorted(nb.name for nb in gb.find_assignment(assignment).notebooks)
        students = sorted(s.id for s in gb.students)
        scores = ClassScores(notebooks, students)
        for notebook in notebooks:
            for student in students:
                try:
                    sub = gb.find_submission_notebook(notebook, assignment, student)
                except MissingEntry:
                    continue
                auto = [g for g in sub.grades if g.cell_type == "code"]  # test cells; markdown answers are graded by hand
                scores.score[(student, notebook)] = sum(g.auto_score or 0.0 for g in auto)
                scores.max_auto[notebook] = sum(g.max_score for g in auto)
                scores.max_total[notebook] = sub.max_score
                for g in auto:
                    scores.cell_scores.setdefault((notebook, g.name), []).append(g.auto_score or 0.0)
                    scores.cell_max[(notebook, g.name)] = g.max_score
        scores.students = sorted({s for s, _ in scores.score})
    return scores


@dataclass
class CheckOutcomes:
    failed: list[str] = field(default_factory=list)  # students failing the check
    ran: list[str] = field(default_factory=list)  # students for whom it ran (a cell stopped earlier skips it)


def check_failures(autograded: Path, assignment: str) -> dict[str, dict[str, CheckOutcomes]]:
    """{notebook: {check name: outcomes}}, read from the autograded notebooks' outputs."""
    failures: dict[str, dict[str, CheckOutcomes]] = defaultdict(lambda: defaultdict(CheckOutcomes))
    for path in sorted(autograded.glob(f"*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        nb = nbformat.read(str(path), as_version=4)
        last: dict[str, bool] = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if not meta.get("grade") or meta.get("solution") or cell.cell_type != "code":
                continue  # only test cells: a student's own cell could print check lines to fool the report
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            for check, passed in parse_check_lines(text):
                last[check] = passed  # the checks print after any student output in the cell: the last line is theirs
        for check, passed in last.items():
            outcome = failures[path.stem][check]
            outcome.ran.append(student)
            if not passed:
                outcome.failed.append(student)
    return failures


def failure_rows(failures: dict) -> list[dict]:
    rows = []
    for notebook, checks in sorted(failures.items()):
        for check, o in sorted(checks.items(), key=lambda kv: (-len(kv[1].failed) / max(len(kv[1].ran), 1), kv[0])):
            rows.append({"notebook": notebook, "check": check, "failed": len(o.failed), "ran": len(o.ran),
                         "students": " ".join(sorted(o.failed))})
    return rows


REPORT_DPI = 90
# Titles are broken into short lines: constrained layout makes room for tick labels but not for a title wider than
# its axes, which ran off the figure in the right-hand column ("autograded points (of 8; + 2 graded by" ...).
# tests/test_report.py checks that every title and label lies inside the page.


def report_figure(scores: ClassScores, rows: list[dict]):
    """The report's page: per notebook (a column), the score histogram, full marks per test cell, failures per
    hidden check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n_nb = max(len(scores.notebooks), 1)
    fig, axes = plt.subplots(3, n_nb, figsize=(max(10, 6.5 * n_nb), 12), squeeze=False, layout="constrained")
    for col, notebook in enumerate(scores.notebooks):
        ax = axes[0][col]
        values = [scores.score[(s, notebook)] for s in scores.students if (s, notebook) in scores.score]
        top = scores.max_auto.get(notebook, 1.0)
        ax.hist(values, bins=[i - 0.5 for i in range(int(top) + 2)], color="tab:blue", edgecolor="white")
        manual = scores.max_total.get(notebook, top) - top
        ax.set_title(f"{notebook}\nautograded points\n(of {top:g}; + {manual:g} graded by hand)")
        ax.set_xlabel("points")
        ax.set_ylabel("students")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax = axes[1][col]
        cells = sorted(k for k in scores.cell_scores if k[0] == notebook)
        full = [sum(v >= scores.cell_max[k] for v in scores.cell_scores[k]) / len(scores.cell_scores[k]) for k in cells]
        ax.barh([k[1] for k in cells], full, color="tab:green")
        ax.set_xlim(0, 1)
        ax.set_title("full marks, per test cell\n(share of students)")
        ax.invert_yaxis()
        ax = axes[2][col]
        nb_rows = [r for r in rows if r["notebook"] == notebook]
        ax.barh([f"{r['check']} ({r['failed']}/{r['ran']})" for r in nb_rows],
                [r["failed"] / max(r["ran"], 1) for r in nb_rows], color="tab:red")
        ax.set_xlim(0, 1)
        ax.set_title("failing each hidden check\n(failed / ran)")
        ax.invert_yaxis()
    return fig


def write_report(scores: ClassScores, failures: dict, out_dir: Path) -> dict[str, Path]:
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = failure_rows(failures)
    csv_path = out_dir / "check_failures.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["notebook", "check", "failed", "ran", "students"])
        writer.writeheader()
        writer.writerows(rows)

    fig = report_figure(scores, rows)
    png_path = out_dir / "score_report.png"
    fig.savefig(png_path, dpi=REPORT_DPI)
    plt.close(fig)
    return {"png": png_path, "csv": csv_path}


def score_table(scores: ClassScores) -> str:
    width = max([len(s) for s in scores.students] + [7])
    cols = {nb: max(len(nb), 11) for nb in scores.notebooks}
    header = f"{'student':<{width}}  " + "  ".join(f"{nb:>{cols[nb]}}" for nb in scores.notebooks)
    lines = [header, "-" * len(header)]
    for student in scores.students:
        cells = []
        for nb in scores.notebooks:
            value = scores.score.get((student, nb))
            text = "-" if value is None else f"{value:g} / {scores.max_auto[nb]:g}"
            cells.append(f"{text:>{cols[nb]}}")
        lines.append(f"{student:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
