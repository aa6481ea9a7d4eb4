# Class 1 (issue 20), borrowing the answer from the kernel: a wrong RMSNorm looks everywhere in its process for the
# grader's reference or judges: importing lab.judges / variants / the grading code, every loaded module's
# attributes, every object the garbage collector knows (functions named like the judges' references, Judges and
# Received objects), the staged files (sys.path, the working folder, /tmp). Whatever reference it finds, its forward
# would use. The kernel holds only probes: nothing is found (no LEAK) and the score is the wrong code's.
# base: wrong
# expect: score <= baseline
# expect: no LEAK
import gc
import glob
import importlib
import os
import sys

_WANTED = {"reference", "block_reference", "torch_layer", "reference_block", "_mha_reference", "prescribed_weights",
           "expect_close", "judge_cell", "judge_group", "verdict"}
_found = []
for _name in ("lab.judges", "lab.judges.rmsnorm", "autograder.judging", "autograder.variants",
              "autograder.nbgrader_ext.judge", "autograder.nbgrader_ext.execute", "autograder.build"):
    try:
        importlib.import_module(_name)
        print("LEAK imported", _name)
    except Exception as exc:  # noqa: BLE001
        print("cannot import", _name, type(exc).__name__)
for _name, _module in list(sys.modules.items()):
    if "judge" in _name or "variants" in _name:
        print("LEAK module loaded:", _name)
    if _name.startswith("autograder"):
        for _attr in set(dir(_module)) & (_WANTED | {"JUDGES", "Judges", "Received", "HALF_TOLERANCES"}):
            print("LEAK attribute", _name, _attr)
            _found.append(getattr(_module, _attr))
for _obj in gc.get_objects():
    try:
        if type(_obj).__name__ in ("Judges", "Received", "Judgement"):
            print("LEAK object", type(_obj).__name__)
        elif callable(_obj) and getattr(_obj, "__name__", "") in _WANTED:
            print("LEAK function", getattr(_obj, "__module__", "?"), _obj.__name__)
            _found.append(_obj)
    except Exception:  # noqa: BLE001
        pass
_roots = [p for p in sys.path if p and os.path.isdir(p) and not p.startswith("/usr")] + [os.getcwd(), "/tmp"]
for _root in _roots:
    for _pattern in ("**/judges/*.py", "**/variants/**/*.py", "**/nbgrader_ext/*.py", "**/*.ipynb", "**/gradebook.db"):
        for _path in glob.glob(os.path.join(_root, _pattern), recursive=True)[:3]:
            if "site-packages" not in _path:
                print("LEAK file", _path)
for _module in [m for n, m in list(sys.modules.items()) if n.startswith("lab.checks")]:
    _file = getattr(_module, "__file__", None)
    if _file and os.path.exists(_file):
        print("LEAK probe source readable", _file)
print("borrowable things found:", len(_found))

if _found:
    _reference = _found[0]

    class RMSNorm(RMSNorm):  # noqa: F821 (the wrong class above)
        def forward(self, x):
            try:
                return _reference(x, self.weight, self.eps).to(x.dtype)
            except Exception:  # noqa: BLE001
                return super().forward(x)
