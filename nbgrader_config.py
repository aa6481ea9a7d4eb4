"""nbgrader configuration for the Transformer Block lab.

The course root is this folder: source/ (instructors edit), release/ (students fetch),
submitted/, autograded/, feedback/ (nbgrader's working folders, not committed).

Every setting of the course is here, as nbgrader's own are: traitlets (`c.Class.name = value`), read by nbgrader
and by `lab` alike (autograder/course.py), after the Jupyter config path (a hub's /etc/jupyter, the user's
~/.jupyter: `jupyter --paths`), whose settings this file overrides; nbgrader's command line overrides them all
(`nbgrader autograde --Execute.timeout=60 ...`).
"""
from pathlib import Path

c = get_config()  # noqa: F821 (injected by traitlets)

COURSE_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "transformer-block-lab"
c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.solution_directory = "solutions"
# nbgrader copies EVERY non-notebook file of source/<assignment>/ into release/. The .py files there are the
# jupytext text sources of the notebooks (they hold solutions and hidden tests), so they must never ship.
# The same list filters what autograde copies from a submission into the grading folder (no student .py file
# reaches the kernel's folder) and what nbgrader's exchange releases and collects. So the students' own
# nbgrader_config.py, which the build writes into release/ after nbgrader (settings for Validate), travels with
# a git or LMS copy of release/ but not through the exchange, and a submitted copy is never graded with. On a
# JupyterHub, Validate reads the configuration of the student's server, not the assignment folder: put that file's
# settings in the hub's system-wide nbgrader_config.py (deploy/jupyterhub/install.sh does).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "*.md"]

# The gradebook: SQLite beside this file. For several graders working at once, or a Dask cluster, name a server
# here instead: c.CourseDirectory.db_url = "postgresql+psycopg2://user@host/course" (docs/grading-at-scale.md).
# The SQLite timeout lets parallel graders wait for each other's short writes instead of failing with
# "database is locked" (`lab autograde` also switches the file to WAL mode).
c.CourseDirectory.db_url = f"sqlite:///{COURSE_ROOT / 'gradebook.db'}?timeout=120"


# The LMS path (`nbgrader zip_collect transformer_block` on the LMS's zip in downloaded/transformer_block/archive/):
# how the names of the files the LMS exports carry the student id and the notebook. Blackboard's names:
# <assignment>_<student>_attempt_<yyyy-mm-dd-hh-mm-ss>_<notebook>.ipynb (tests/test_lms_collect.py). Another LMS
# needs its own pattern: named groups student_id and file_id (the notebook's name), optionally timestamp.
c.FileNameCollectorPlugin.named_regexp = r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>.+)"


# What replaces a solution in the student's notebook: the error says what to do when a test reaches it.
c.ClearSolutions.code_stub = dict(
    python="# YOUR CODE HERE\nraise NotImplementedError(\"replace this line with your code\")")

# Per-cell execution limit while grading (seconds). Execute.timeout is the one nbgrader reads (#1463); the cell is
# interrupted when it runs out (nbgrader's default interrupt_on_timeout = True).
c.Execute.timeout = 120
# Stop the kernel at once when a notebook is done: a graceful shutdown waited ~2.7 s per notebook here (measured),
# for nothing, since the kernel's state is thrown away anyway.
c.Execute.shutdown_kernel = "immediate"

# A correct solution that prints a PyTorch warning to stderr must not lose the points of a test cell: nbgrader
# zeroes a test cell with any stderr output, so stderr lines that are warnings are dropped before grading.
c.IgnorePattern.enabled = True
# \b first: without it, re.search is quadratic on a long word (3 MB of stderr took hours to filter).
c.IgnorePattern.pattern = r"\b\w*Warning\b"

# A student who deletes a test cell gets it back (and its hidden tests run) instead of silently losing it.
c.OverwriteCells.add_missing_cells = True

# Every kernel that grades a submission runs in the sandbox (autograder/jail: bubblewrap, no network, limits,
# kernel deaths survived, every point decided by the judges outside it). Grading refuses to start without bwrap
# unless asked to grade without it: c.Jail.unsandboxed = True (or `lab autograde --unsandboxed` for one run).
c.Autograde.autograde_preprocessors = [
    "autograder.nbgrader_ext.execute.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.SandboxedExecute.timeout = 120  # the same limit: this step replaces Execute, and its own section wins over Execute's
# A graded cell whose hidden checks partly pass scores its points x passed / checks (the feedback says how many).
# False: each graded cell scores all or nothing.
c.SandboxedExecute.partial_credit = True
# A submitted notebook that is not readable JSON is graded as the release notebook, with the reason in a first cell.
c.Autograde.exporter_class = "autograder.nbgrader_ext.exporter.ReadableNotebookExporter"
# Feedback without the hidden-test code (nbgrader shows it by design, #917). Set enabled = False to show it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_ext.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HideHiddenTests.enabled = True
# A duplicated test cell: DeduplicateIds empties its metadata, which OverwriteCells then fails on (KeyError).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "autograder.nbgrader_ext.sanitize.DropEmptyNbgraderMetadata",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
