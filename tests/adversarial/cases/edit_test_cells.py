# Replaces the code of every test cell by `pass`: the locked cells are restored from the gradebook.
# base: wrong
# kind: transform
# expect: score <= baseline
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell["cell_type"] == "code":
            cell["source"] = "pass\n"
            cell["metadata"]["nbgrader"]["points"] = 100
    notebook.write_text(json.dumps(nb))
