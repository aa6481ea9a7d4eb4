# Cheat: the check runner itself (CheckGroups.run, with the grading channel open) is replaced by one that prints
# the "ok" lines of every check and no probe data. The judge gets no data for any group: every check fails.
# base: wrong
# expect: score <= baseline
# expect: score == 0
# reason: sent back no data
import sys

core = sys.modules["autograder.probing"]


def fake_run(self, group, *args):
    for name in self.groups[group]:
        print(f"[ok  ] {name}: {self.checks[name].description}")


core.CheckGroups.run = fake_run
