# Read-only. nbgrader's Validate fails a test cell that writes anything to stderr, which is where Python prints a
# warning (a PyTorch UserWarning, say); grading does not count a warning against you. So that Validate agrees,
# while Validate runs this notebook its warnings are printed as ordinary output instead, by Python's own means
# (warnings.showwarning may be replaced). Outside Validate, warnings look as usual.
import os
import warnings

if os.environ.get("NBGRADER_EXECUTION") == "validate":
    def _show_warning_as_output(message, category, filename, lineno, file=None, line=None):
        print(warnings.formatwarning(message, category, filename, lineno, line), end="")

    warnings.showwarning = _show_warning_as_output
