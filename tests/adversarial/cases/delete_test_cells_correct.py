# Deletes every test cell from a correct notebook: the tests are put back and it keeps full marks.
# base: correct
# kind: transform
# expect: score == 8
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    nb["cells"] = [c for c in nb["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")
                   or c["cell_type"] == "markdown"]
    notebook.write_text(json.dumps(nb))
