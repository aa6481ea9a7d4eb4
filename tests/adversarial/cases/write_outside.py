# Tries to write everywhere it should not: course files, other students, the grader's temp, its own submission.
# base: correct
# expect: score == 8
# expect: no PWNED file anywhere
import glob
import os

targets = ["/PWNED", "/tmp/../PWNED", os.path.expanduser("~/PWNED"), "PWNED_HERE"]
here = os.getcwd()
course = here.rsplit("/autograded/", 1)[0]
for rel in ["", "source", "source/transformer_block", "release", "submitted", "submitted/perfect",
            "submitted/write_outside/transformer_block", "autograded/perfect/transformer_block", "autograder"]:
    targets.append(os.path.join(course, rel, "PWNED"))
targets += [p + ".PWNED" for p in glob.glob(course + "/**/*", recursive=True)][:50]
for target in targets:
    try:
        with open(target, "w") as f:
            f.write("pwned")
        print("wrote", target)
    except OSError as exc:
        print("denied", target, type(exc).__name__)
for victim in [os.path.join(course, "gradebook.db"), os.path.join(course, "nbgrader_config.py")]:
    try:
        os.remove(victim)
        print("LEAK removed", victim)
    except OSError as exc:
        print("denied", victim, type(exc).__name__)
