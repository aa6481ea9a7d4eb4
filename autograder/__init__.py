"""Course tooling for the Transformer Block lab.

- ``autograder.checks``: the hidden checks that the notebooks' hidden-test cells call (one line each).
- ``autograder.provided``: code the course provides to students, written once and included verbatim into the
  notebooks that use it (lessons and exercises alike).
- ``autograder.notebook_text`` / ``autograder.build``: build notebooks from their jupytext text sources and
  regenerate every derived file (release/, solutions/, notebooks/).
- ``autograder.example_class`` (``grade.py``, ``lab grade``) / ``autograder.report``: the main job, grading the bundled example
  class end to end.
- ``autograder.autograde``: grading a real class in parallel, on this machine or on Dask (``autograder.cluster``),
  both with ``autograder.grading`` (a student graded in a worker process); ``autograder.course``: the course a
  command acts on, with the configuration nbgrader reads there.
- ``autograder.jail``, ``autograder.nbgrader_ext``, ``autograder.protocol``: the grading jail, the nbgrader
  extensions the course's configuration plugs in, and the lines grading kernels print.
- ``autograder.cli``: the ``lab`` command line (``python -m autograder``).
"""
