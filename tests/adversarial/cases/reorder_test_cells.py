# Reverses the order of the test cells (they still follow the solution). nbgrader restores their code, not their
# order: self-contained test cells keep full marks; a visible test that uses a variable of an earlier test cell
# (x_small, in the first version of this notebook) fails with NameError. Never more than full marks.
# base: correct
# kind: transform
# expect: score >= 6
# expect: score <= 8
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    index = [i for i, c in enumerate(nb["cells"])
             if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
    tests = [nb["cells"][i] for i in index]
    for i, cell in zip(index, reversed(tests)):
        nb["cells"][i] = cell
    notebook.write_text(json.dumps(nb))
