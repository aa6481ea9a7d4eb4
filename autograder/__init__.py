"""The grading engine: nbgrader, a grading jail and judged checks, for any course laid out as this one is. This
lab's exercise content (probes, judges, provided code, the example class) is the package ``lab``, beside it.

- ``autograder.cli``: the ``lab`` command line (``python -m autograder``); ``autograder.course``: the course a
  command acts on, with the configuration nbgrader reads there; ``autograder.paths``: the repository's layout.
- ``autograder.probing`` / ``autograder.judging`` / ``autograder.wire`` / ``autograder.protocol``: the check
  framework, a probe's kernel side and a judge's grader side, and how probe data travels between them.
- ``autograder.notebook_text`` / ``autograder.build``: build notebooks from their jupytext text sources and
  regenerate every derived file (release/, solutions/, notebooks/); ``autograder.cells``: cells the engine gives
  every assignment notebook.
- ``autograder.example_class`` (``lab grade``) / ``autograder.report``: the main job, grading the bundled example
  class end to end; ``autograder.variants``: loading the answer variants (tests/variants/) it and the tests use.
- ``autograder.autograde``: grading a real class in parallel, on this machine or on Dask (``autograder.cluster``),
  both with ``autograder.grading`` (a student graded in a worker process).
- ``autograder.jail``, ``autograder.nbgrader_ext``: the grading jail, and the nbgrader extensions the course's
  configuration plugs in.
- ``autograder.scaffold`` (``lab new-exercise``): the skeleton of a new exercise.
"""
