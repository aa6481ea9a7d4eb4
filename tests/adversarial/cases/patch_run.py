# Cheat: the check runner itself is replaced by one that prints the "ok" lines and passes.
# base: wrong
# expect: score <= baseline
# reason: UnconfirmedResult
import sys

core = sys.modules["autograder.checks._core"]


def fake_run(self, group, *args):
    for name in self.groups[group]:
        print(f"[ok  ] {name}: {self.checks[name].description}")


core.CheckGroups.run = fake_run
