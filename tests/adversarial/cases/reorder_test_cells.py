# Reverses the order of the test cells (they still follow the solution). nbgrader restores their code, not their
# order: the dtypes test uses x_small from the basics test, which now runs after it, and fails (NameError).
# base: correct
# kind: transform
# expect: score == 6
# reason: NameError
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    index = [i for i, c in enumerate(nb["cells"])
             if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
    tests = [nb["cells"][i] for i in index]
    for i, cell in zip(index, reversed(tests)):
        nb["cells"][i] = cell
    notebook.write_text(json.dumps(nb))
