"""nbgrader settings for Validate, shipped with the notebooks of this assignment: with them,
Validate decides whether a test cell passed the way grading does.

Grading ignores an output on stderr that looks like a warning (for example a PyTorch UserWarning printed inside a
test cell); nbgrader's Validate on its own fails the cell for it. nbgrader reads this file from the folder it is
started in: run `nbgrader validate NN_name.ipynb` in this folder, or start JupyterLab in this folder
(`jupyter lab`) and use the Validate button. Grading also limits memory and time in ways Validate cannot copy.

Written from the course's settings when the assignment was released; editing it changes only your own Validate.
"""
c = get_config()  # noqa: F821 (given by traitlets when nbgrader reads this file)

# The time limit of one cell, in seconds, as when grading.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# What grading removes from a cell's stderr before it scores the cell: nbgrader's own IgnorePattern step, with the
# course's pattern. Validate has no such step and its steps cannot be configured, so this file adds the filter to
# the end of nbgrader's Execute.on_cell_executed, which runs after each cell with that cell's outputs (a method
# there, so the configurable hook of the same name cannot be set). Once per process: the Validate button of
# JupyterLab reads this file at every click.
from nbgrader.preprocessors import Execute, IgnorePattern

IGNORED_STDERR = IgnorePattern(enabled=True, pattern='\\b\\w*Warning\\b')


def then_drop_ignored_stderr(on_cell_executed):
    def on_cell_executed_then_filter(self, **kwargs):
        on_cell_executed(self, **kwargs)
        IGNORED_STDERR.preprocess_cell(kwargs["cell"], {}, kwargs["cell_index"])

    on_cell_executed_then_filter.drops_ignored_stderr = True
    return on_cell_executed_then_filter


if not getattr(Execute.on_cell_executed, "drops_ignored_stderr", False):
    Execute.on_cell_executed = then_drop_ignored_stderr(Execute.on_cell_executed)
