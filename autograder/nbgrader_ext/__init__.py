"""nbgrader extensions this course's nbgrader_config.py plugs in (each a class nbgrader's own pipeline calls).

- execute.SandboxedExecute: Autograde's Execute, with every kernel in the jail (autograder.jail), kernel deaths
  survived, graded cells scored by the judges (lab.judges) alone;
- exporter.ReadableNotebookExporter: Autograde's exporter, grading an unreadable submission as the release notebook;
- sanitize.DropEmptyNbgraderMetadata: a sanitizing step nbgrader's own DeduplicateIds needs;
- feedback.HideHiddenTests: GenerateFeedback without the hidden-test code;
- missing.record_missing: a 0 and feedback for a submission without the expected notebook (run after autograde).
"""
