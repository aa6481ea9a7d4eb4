"""`python -m autograder.jail`: say whether grading here would be sandboxed (exit 1 if not)."""
import sys

from . import probe

problem = probe()
print("sandbox: available (bwrap)" if problem is None else f"sandbox: UNAVAILABLE: {problem}")
sys.exit(0 if problem is None else 1)
