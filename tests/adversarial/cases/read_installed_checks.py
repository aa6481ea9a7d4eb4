# Looks for the hidden checks (and the judges, the variants, the grader's code) wherever Python could have them: every folder
# on sys.path and the site-packages of the environment, as a plain `pip install .` lays them out (not only the
# editable install's). The jail covers an installed copy with an empty folder and deletes the staged copy once
# loaded: nothing readable. (tests/adversarial/test_jail_hardening.py runs this in a non-editable install.)
# base: correct
# expect: score == 8
# expect: no LEAK
# reason: check or grader sources readable: 0
import glob
import os
import site
import sys
import sysconfig

roots = {p for p in sys.path if p and os.path.isdir(p)} | set(site.getsitepackages())
roots |= {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
secret = ("checks", "judges", "variants", "nbgrader_ext")
found = 0
for root in sorted(roots):
    for path in [p for package in ("autograder", "lab")
                 for p in glob.glob(os.path.join(root, package, "**", "*"), recursive=True)]:
        parts = path[len(root):].split(os.sep)
        if os.path.isfile(path) and any(part in secret for part in parts):
            try:
                with open(path, "rb") as f:
                    if f.read(100):
                        found += 1
                        print("LEAK read", path)
            except OSError as exc:
                print("denied", path, type(exc).__name__)
print("check or grader sources readable:", found)
