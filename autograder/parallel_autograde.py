"""Kept so that `python -m autograder.parallel_autograde` and imports from here still work: grading a real class
is autograder/autograde.py, and its command is `lab autograde`."""
import sys

from .autograde import StudentResult, _grade_all, autograde_class, grading_inputs_digest, submission_digest  # noqa: F401

if __name__ == "__main__":
    from .cli import main

    sys.exit(main(["autograde", *sys.argv[1:]]))
