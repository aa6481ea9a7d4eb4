"""Kept so that `python -m autograder.grade` and imports from here still work: the main job (grading the bundled
example class) is autograder/example_class/grade.py, and its command is `lab grade`."""
import sys

from .example_class.grade import grade_example_class, prepare_example_course  # noqa: F401

if __name__ == "__main__":
    from .cli import main

    sys.exit(main(["grade", *sys.argv[1:]]))
