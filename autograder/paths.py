"""Where things live in the course repository. One place, so no module hard-codes a layout."""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "transformer_block"

SOURCE = REPO / "source"
RELEASE = REPO / "release"
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "notebooks"
# This lab's exercise content, a package of its own beside the engine (autograder/): the probes (CONTENT/checks),
# their judges (CONTENT/judges), the code given to students (CONTENT/provided), the example class. The engine reads
# the package's name from the hidden-test lines where it can (the judge); the jail stages this one.
CONTENT_PACKAGE = "lab"
CONTENT = REPO / CONTENT_PACKAGE
EXAMPLE_CLASS = CONTENT / "example_class.toml"
# Answer variants, correct and wrong: test data (the tests and the example class use them), not in the wheel.
VARIANTS = REPO / "tests" / "variants"


def content_dir() -> Path:
    """Where the course's content package is imported from: CONTENT in this repository (editable install), the
    environment's site-packages after a plain `pip install .`. What grading stages and digests."""
    import importlib

    return Path(importlib.import_module(CONTENT_PACKAGE).__file__).resolve().parent


def assignment_notebook_names(assignment: str = ASSIGNMENT) -> list[str]:
    """Stems of the assignment's notebooks, from their text sources (the only thing an instructor writes)."""
    return sorted(p.stem for p in (SOURCE / assignment).glob("[0-9]*.py"))
