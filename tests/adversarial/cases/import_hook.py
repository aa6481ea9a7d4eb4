# Cheat: an import hook serves a fake lab.checks.rmsnorm whose group runner prints "ok" lines and no probe
# data (the real module is dropped from sys.modules first). The judge reads the cell's trusted source, asks for one
# probe line per group and gets none: every check fails.
# base: wrong
# expect: score <= baseline
# reason: sent back no data
import importlib.abc
import importlib.util
import sys
import types


class FakeChecks(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name.startswith("lab.checks.") and name != "autograder.probing":
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.GROUPS = types.SimpleNamespace(run=lambda *args: print("[ok  ] everything"))
        return module

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, FakeChecks())
for name in [n for n in sys.modules if n.startswith("lab.checks.") and not n.endswith("_core")]:
    del sys.modules[name]
checks_pkg = sys.modules.get("lab.checks")
if checks_pkg is not None and hasattr(checks_pkg, "rmsnorm"):
    del checks_pkg.rmsnorm
