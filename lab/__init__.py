"""The Transformer Block lab's exercise content: what an instructor of this lab edits, beside the notebooks' text
sources (source/transformer_block/*.py). The grading engine (autograder/) runs any course's content laid out so:

- ``lab.checks``: one module per exercise, the probes that the notebooks' hidden-test lines call (one line each,
  ``from lab.checks import decoder as _checks; _checks.GROUPS.run("shapes", TransformerDecoderBlock)``); they run in
  the student's kernel and decide nothing;
- ``lab.judges``: the same exercises' judges, references and thresholds; they run in the grader, never in the jail;
- ``lab.provided``: code the notebooks include (``# %% include="lab/provided/attention.py"``), written once;
- ``example_class.toml``: the bundled example class that ``lab grade`` grades (its answers are files of
  tests/variants/, the correct and wrong answers the checks are tested on).

docs/instructors.md ("Adding an exercise") walks through each.
"""
