# Moves the test cells above the solution cell: they run before RMSNorm exists and fail (NameError), wrong
# order is not repaired by nbgrader. The grade is 0 with the reason in the feedback.
# base: correct
# kind: transform
# expect: score == 0
# reason: NameError
import json


def transform(folder, notebook):
    nb = json.loads(notebook.read_text())
    cells = nb["cells"]
    tests = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade") and c["cell_type"] == "code"]
    rest = [c for c in cells if c not in tests]
    at = next(i for i, c in enumerate(rest) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "rmsnorm_impl")
    nb["cells"] = rest[:at] + tests + rest[at:]
    notebook.write_text(json.dumps(nb))
