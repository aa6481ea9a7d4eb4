"""One-off: move `@X.judge` blocks (and named helpers) of autograder/checks/M.py into autograder/judges/M.py."""
import ast
import sys
import re
from pathlib import Path

mod, helpers = sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else []
src_path = Path(f"autograder/checks/{mod}.py")
text = src_path.read_text()
lines = text.splitlines(keepends=True)
tree = ast.parse(text)
moves = []  # (start, end, kind, payload)
for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno]) - 1
        end = node.end_lineno
        decs = getattr(node, "decorator_list", [])
        jd = [d for d in decs if isinstance(d, ast.Attribute) and d.attr == "judge"]
        bj = [d for d in decs if isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "block_judge"]
        if jd:
            moves.append((start, end, "judge", jd[0].value.id))
        elif bj:
            moves.append((start, end, "judge", bj[0].args[0].id))
        elif node.name in helpers:
            moves.append((start, end, "helper", node.name))
    elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in helpers for t in node.targets):
        moves.append((node.lineno - 1, node.end_lineno, "helper", node.targets[0].id))
out = []
keep = list(lines)
for start, end, kind, name in sorted(moves, reverse=True):
    block = "".join(lines[start:end])
    if kind == "judge":
        body = block.split("\n", 1)[1]  # drop the decorator line
        block = f"@JUDGES.judge(probes.{name})\n" + body
    out.insert(0, block)
    del keep[start:end]
# collapse 3+ blank lines
probe_text = re.sub(r"\n{4,}", "\n\n\n", "".join(keep))
src_path.write_text(probe_text)
Path(f"autograder/judges/{mod}.py").write_text("\n\n".join(out))
print(len(moves), "moved")
