# Deletes every test cell: nbgrader puts them back (OverwriteCells.add_missing_cells) and they run.
# base: wrong
# kind: transform
# expect: score <= baseline
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    nb["cells"] = [c for c in nb["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")
                   or c["cell_type"] == "markdown"]
    notebook.write_text(json.dumps(nb))
