# Tries to read what grading must keep from it: the source notebook, the gradebook, another student's submission,
# the grader's code, the hidden checks, its own graded notebook (which holds the hidden tests). Prints LEAK on success.
# base: correct
# expect: score == 8
# expect: no LEAK
import glob
import inspect
import os
import sys

here = os.getcwd()
course = here.rsplit("/autograded/", 1)[0]
paths = [os.path.join(course, p) for p in ["source/transformer_block/03_rmsnorm.py",
                                           "source/transformer_block/03_rmsnorm.ipynb", "gradebook.db",
                                           "submitted/perfect/transformer_block/03_rmsnorm.ipynb",
                                           "autograded/perfect/transformer_block/03_rmsnorm.ipynb",
                                           "lab/checks/rmsnorm.py", "tests/variants/rmsnorm/correct/llama_style.py",
                                           "nbgrader_config.py"]]
paths += glob.glob("*.ipynb") + glob.glob(course + "/**/*.ipynb", recursive=True) + ["/etc/shadow", "/root/.bash_history"]
for path in paths:
    try:
        with open(path, "rb") as f:
            data = f.read(200)
        print("LEAK read", path, len(data))
    except OSError as exc:
        print("denied", path, type(exc).__name__)
for name, module in list(sys.modules.items()):
    if name.startswith("lab.checks"):
        try:
            inspect.getsource(module)
            print("LEAK source of", name)
        except (OSError, TypeError) as exc:
            print("no source for", name, type(exc).__name__)
print("environment keys:", sorted(os.environ))
if any("KEY" in k for k in os.environ):
    print("LEAK a key in the environment")
