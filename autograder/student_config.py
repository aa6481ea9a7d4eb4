"""The nbgrader_config.py shipped with the release, so that Validate on a student's machine decides as grading does.

Grading (the course's nbgrader_config.py) drops stderr outputs that match `IgnorePattern.pattern` before it scores a
test cell; nbgrader's Validate has no such step (its preprocessors are fixed: CheckCellMetadata, ClearOutput,
Execute) and reads no course configuration on a student's machine, so a warning printed inside a test cell fails
Validate there while grading ignores it. The shipped file closes that gap with what Validate does read: settings of
its `Execute` step's per-cell time limit, and nbgrader's own IgnorePattern, with the course's pattern, run on each
cell's outputs right after the cell (wrapped around `Execute.on_cell_executed`: Validate's steps are fixed, and
nbgrader's Execute defines `on_cell_executed` as a method, so the configurable hook of that name cannot be set).

Only those values are taken from the course's configuration, never its gradebook URL, course id, sandbox or paths:
the file is written from a fixed template. The values are read with NBGRADER_CELL_TIMEOUT unset, so that the
release does not depend on the environment of whoever builds it.
"""
from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

from traitlets.config import Config

from .course import course_config

FILE_NAME = "nbgrader_config.py"

HEADER = '''"""nbgrader settings for Validate, shipped with the notebooks of this assignment: with them,
Validate decides whether a test cell passed the way grading does.

Grading ignores an output on stderr that looks like a warning (for example a PyTorch UserWarning printed inside a
test cell); nbgrader's Validate on its own fails the cell for it. nbgrader reads this file from the folder it is
started in: run `nbgrader validate NN_name.ipynb` in this folder, or start JupyterLab in this folder
(`jupyter lab`) and use the Validate button. Grading also limits memory and time in ways Validate cannot copy.

Written from the course's settings when the assignment was released; editing it changes only your own Validate.
"""
c = get_config()  # noqa: F821 (given by traitlets when nbgrader reads this file)

# The time limit of one cell, in seconds, as when grading.
c.Execute.timeout = {timeout!r}
c.Execute.interrupt_on_timeout = {interrupt!r}
'''

IGNORE_HOOK = '''
# What grading removes from a cell's stderr before it scores the cell: nbgrader's own IgnorePattern step, with the
# course's pattern. Validate has no such step and its steps cannot be configured, so this file adds the filter to
# the end of nbgrader's Execute.on_cell_executed, which runs after each cell with that cell's outputs (a method
# there, so the configurable hook of the same name cannot be set). Once per process: the Validate button of
# JupyterLab reads this file at every click.
from nbgrader.preprocessors import Execute, IgnorePattern

IGNORED_STDERR = IgnorePattern(enabled=True, pattern={pattern!r})


def then_drop_ignored_stderr(on_cell_executed):
    def on_cell_executed_then_filter(self, **kwargs):
        on_cell_executed(self, **kwargs)
        IGNORED_STDERR.preprocess_cell(kwargs["cell"], {{}}, kwargs["cell_index"])

    on_cell_executed_then_filter.drops_ignored_stderr = True
    return on_cell_executed_then_filter


if not getattr(Execute.on_cell_executed, "drops_ignored_stderr", False):
    Execute.on_cell_executed = then_drop_ignored_stderr(Execute.on_cell_executed)
'''


def grading_settings(course_root: Path) -> Config:
    """The course's configuration as grading reads it, with the environment's cell-timeout override removed."""
    with mock.patch.dict(os.environ):
        os.environ.pop("NBGRADER_CELL_TIMEOUT", None)
        return course_config(course_root)


def render(course_root: Path) -> str:
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    config = grading_settings(course_root)
    # Grading runs the configured execute step (SandboxedExecute here), whose settings override Execute's.
    execute = {**config.get("Execute", {}), **config.get("SandboxedExecute", {})}
    text = HEADER.format(timeout=int(execute.get("timeout", Execute.class_traits()["timeout"].default())),
                         interrupt=bool(execute.get("interrupt_on_timeout", True)))
    steps = config.get("Autograde", {}).get("autograde_preprocessors",
                                            Autograde.class_traits()["autograde_preprocessors"].default())
    grading_ignores = any("IgnorePattern" in getattr(step, "__name__", str(step)) for step in steps)
    ignore = config.get("IgnorePattern", {})
    if grading_ignores and ignore.get("enabled") and ignore.get("pattern"):
        text += IGNORE_HOOK.format(pattern=str(ignore["pattern"]))
    return text


def write(release_dir: Path, course_root: Path) -> Path:
    path = release_dir / FILE_NAME
    path.write_text(render(course_root))
    return path
