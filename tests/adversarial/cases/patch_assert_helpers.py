# Cheat: the checks' own assertion helpers and failure collection are made harmless.
# base: wrong
# expect: score <= baseline
import sys

for name in ("autograder.checks._core", "autograder.checks.rmsnorm"):
    module = sys.modules.get(name) or __import__(name, fromlist=["x"])
    module.expect = lambda *args, **kwargs: None
    module.expect_close = lambda *args, **kwargs: None
core = sys.modules["autograder.checks._core"]
core.CheckGroups.failures = lambda self, names, *args: {}
