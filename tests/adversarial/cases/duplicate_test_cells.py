# Duplicates every test cell (hoping to be counted twice): duplicates are dropped, points are not doubled.
# base: correct
# kind: transform
# expect: score == 8
import copy
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    cells = []
    for cell in nb["cells"]:
        cells.append(cell)
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell["cell_type"] == "code":
            cells.append(copy.deepcopy(cell))
    nb["cells"] = cells
    notebook.write_text(json.dumps(nb))
