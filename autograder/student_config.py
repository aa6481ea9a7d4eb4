"""The nbgrader_config.py shipped with the release, so that Validate on a student's machine times cells as grading does.

Only grading's per-cell time limit is taken from the course's configuration (its `Execute` step's timeout and
interrupt), never its gradebook URL, course id, sandbox or paths: the file is written from a fixed template, and
holds settings only (no code that changes nbgrader). They come from the course's own nbgrader_config.py alone (not
the builder's Jupyter config path), so that the release does not depend on the machine that builds it.

What else makes Validate decide as grading does lives in the notebooks, so that it holds wherever Validate runs
(with or without this file): grading does not count a warning printed inside a test cell against it, while
nbgrader's Validate fails a test cell with any stderr output; each assignment notebook's read-only cell
autograder/cells/warnings_as_output.py prints warnings as ordinary output while Validate runs it
(NBGRADER_EXECUTION=validate), with Python's own `warnings.showwarning`.
"""
from __future__ import annotations

from pathlib import Path


from .course import course_config

FILE_NAME = "nbgrader_config.py"

TEMPLATE = '''"""nbgrader settings for Validate, shipped with the notebooks of this assignment: with them, Validate gives a
cell the time grading gives it.

nbgrader reads this file from the folder it is started in: run `nbgrader validate NN_name.ipynb` in this folder, or
start JupyterLab in this folder (`jupyter lab`) and use the Validate button. Grading also limits memory and time in
ways Validate cannot copy.

Written from the course's settings when the assignment was released; editing it changes only your own Validate.
"""
c = get_config()  # noqa: F821 (given by traitlets when nbgrader reads this file)

# The time limit of one cell, in seconds, as when grading.
c.Execute.timeout = {timeout!r}
c.Execute.interrupt_on_timeout = {interrupt!r}
'''


def render(course_root: Path) -> str:
    from nbgrader.preprocessors import Execute

    config = course_config(course_root)  # the course's own file: what grading times cells with
    # Grading runs the configured execute step (SandboxedExecute here), whose settings override Execute's.
    execute = {**config.get("Execute", {}), **config.get("SandboxedExecute", {})}
    return TEMPLATE.format(timeout=int(execute.get("timeout", Execute.class_traits()["timeout"].default())),
                           interrupt=bool(execute.get("interrupt_on_timeout", True)))


def write(release_dir: Path, course_root: Path) -> Path:
    path = release_dir / FILE_NAME
    path.write_text(render(course_root))
    return path
