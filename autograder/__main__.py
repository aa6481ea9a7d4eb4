"""`python -m autograder COMMAND`: the same command line as `lab COMMAND` (autograder/cli.py)."""
import sys

from .cli import main

sys.exit(main())
