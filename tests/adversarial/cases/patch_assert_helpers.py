# Cheat: every helper the kernel holds that could decide a check is made harmless: `expect` (the probes' early
# failures), CheckGroups.failures (the in-process judging used outside grading), and `plain`/`raised` (how results
# and errors are reported). In grading nothing in the kernel decides a check: the probes still report what the
# wrong RMSNorm returns and the judges, out of reach, fail it as before.
# base: wrong
# expect: score <= baseline
import sys

core = sys.modules["autograder.probing"]
for name in ("autograder.probing", "lab.checks.rmsnorm"):
    module = sys.modules[name]
    module.expect = lambda *args, **kwargs: None
core.CheckGroups.failures = lambda self, names, *args, **kwargs: {}
core.raised = lambda exc: "nothing"
