"""Where things live in the course repository. One place, so no module hard-codes a layout."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "transformer_block"

SOURCE = REPO / "source"
RELEASE = REPO / "release"
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "notebooks"
EXAMPLE_CLASS = REPO / "autograder" / "example_class"


def assignment_notebook_names(assignment: str = ASSIGNMENT) -> list[str]:
    """Stems of the assignment's notebooks, from their text sources (the only thing an instructor writes)."""
    return sorted(p.stem for p in (SOURCE / assignment).glob("[0-9]*.py"))
