"""In-kernel guard for the hidden checks (loaded before any student code; see the README's threat model).

Only guarded checks (behaviour without a data witness) are decided here; judged checks only probe in the kernel
and are decided by the grader (autograder/nbgrader_ext/judge.py), so nothing below matters for their points.
The checks run in the same interpreter as the student's code, so the student's code can change what they rely on.
Before each check group runs, the guard puts back everything it recorded at start-up (torch's functions, Tensor and
Module methods, builtins, import machinery, the check modules and their helpers) and, after the group ran, checks
that nothing of it was changed while the student's code was being called: a change fails the group. Each group's
verdict is printed as a line signed with a key that only the grader and this guard know
(`[verdict SEQ GROUP K/N MAC]`: K of the group's N checks passed, or `failed` when the group cannot be trusted;
autograder/protocol.py). nbgrader's side (SandboxedExecute) scores a graded cell only from the valid verdicts of
every check group the cell calls: all checks passed gives the cell's points, some passed gives partial credit
(or nothing, when the course grades all or nothing). A cell that hides its error, skips its tests, swaps the
check module, or exits early therefore gets no credit.

A group whose checks merely failed does not raise here: the grader, not the kernel, decides what the cell scores,
so the rest of the cell (its visible tests) still runs. Anything else (tampering, an error in the group itself)
raises, and the cell gets nothing.
"""
from __future__ import annotations

import builtins
import importlib
import itertools
import pkgutil
import sys
import types

from autograder import protocol


class _Snapshot:
    """Identity snapshot of namespaces: restore() puts values back; changed() lists what differs."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object, dict, bool]] = []  # (label, owner, saved, strict)

    def add(self, label: str, owner: object, strict: bool = False) -> None:
        saved = dict(vars(owner)) if not isinstance(owner, dict) else dict(owner)
        self.items.append((label, owner, saved, strict))

    @staticmethod
    def _ns(owner):
        return owner if isinstance(owner, dict) else vars(owner)

    def changed(self) -> list[str]:
        out = []
        for label, owner, saved, strict in self.items:
            now = self._ns(owner)
            for name, value in saved.items():
                if name in _IGNORED or (label == "builtins" and name in _IGNORED_BUILTINS):
                    continue
                if now.get(name, _MISSING) is not value:
                    out.append(f"{label}.{name}")
            if strict:
                out += [f"{label}.{name} (added)" for name in now if name not in saved and name not in _IGNORED]
        return out

    def restore(self) -> None:
        for label, owner, saved, strict in self.items:
            now = self._ns(owner)
            for name, value in saved.items():
                if name in _IGNORED or (label == "builtins" and name in _IGNORED_BUILTINS):
                    continue
                if now.get(name, _MISSING) is not value:
                    try:
                        if isinstance(owner, (dict, types.ModuleType)):
                            self._ns(owner)[name] = value
                        else:
                            setattr(owner, name, value)
                    except (AttributeError, TypeError):
                        pass
            if strict:
                for name in [n for n in now if n not in saved and n not in _IGNORED]:
                    try:
                        if isinstance(owner, dict):
                            del owner[name]
                        else:
                            delattr(owner, name)
                    except (AttributeError, TypeError):
                        pass


_MISSING = object()
_IGNORED = {"__dict__", "__weakref__", "_", "__",
            "__slotnames__"}  # copyreg caches it on a class the first time one is pickled (torch.save: probes)
# IPython swaps these while a cell runs (builtin_trap): not something the checks rely on
_IGNORED_BUILTINS = {"exit", "quit", "help", "copyright", "credits", "license", "display", "get_ipython",
                     "__IPYTHON__", "__builtins__", "__name__", "__doc__", "__package__", "__loader__", "__spec__",
                     "__debug__", "__build_class__"}
_state: dict = {}


def install(key: bytes) -> None:
    import torch
    import torch.nn.functional
    import autograder.checks as checks_pkg
    from autograder.checks import _core

    modules = []
    # a kernel forked from the zygote finds the check modules imported and their files gone
    names = {info.name for info in pkgutil.iter_modules(checks_pkg.__path__)}
    names |= {name.split(".")[2] for name in sys.modules if name.startswith("autograder.checks.")}
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(f"autograder.checks.{name}"))
        except Exception as exc:  # noqa: BLE001 -- one broken check module must not stop every notebook
            print(f"autograder.jail: cannot load autograder.checks.{name}: {exc!r}", file=sys.__stderr__)
    snap = _Snapshot()
    snap.add("builtins", builtins)
    for mod in (torch, torch.nn, torch.nn.functional, torch.linalg, torch.testing):
        snap.add(mod.__name__, mod)
    for cls in (torch.Tensor, torch.nn.Module, torch.nn.Parameter, torch.Generator, torch.Size):
        snap.add(f"{cls.__module__}.{cls.__qualname__}", cls, strict=True)
    for mod in [checks_pkg, _core, protocol, *modules]:
        snap.add(mod.__name__, mod)
    for cls in (_core.CheckGroups, _core.Check, _core.CheckFailed):
        snap.add(f"_core.{cls.__name__}", cls, strict=True)
    for mod in modules:
        groups = getattr(mod, "GROUPS", None)
        if isinstance(groups, _core.CheckGroups):
            snap.add(f"{mod.__name__}.GROUPS", groups, strict=True)
            snap.add(f"{mod.__name__}.GROUPS.checks", groups.checks, strict=True)
            snap.add(f"{mod.__name__}.GROUPS.groups", groups.groups, strict=True)
            for name, chk in groups.checks.items():
                snap.add(f"{mod.__name__}.{name}", chk, strict=True)
    sys_modules = {name: mod for name, mod in sys.modules.items()
                   if name == "torch" or name.startswith(("torch.", "autograder"))}
    snap.items.append(("sys.modules", sys.modules, dict(sys_modules), False))
    import_state = (list(sys.meta_path), list(sys.path_hooks), sys.path_importer_cache.copy())
    original_run = _core.CheckGroups.run
    counter = itertools.count(1)
    disable_torch_function = torch._C.DisableTorchFunction
    print_ = builtins.print
    verdict_line, verdict_status, verdict_failed = protocol.verdict_line, protocol.verdict_status, \
        protocol.VERDICT_FAILED
    failed_type, group_failed_type = _core.CheckFailed, _core.GroupFailed

    def restore_all() -> None:
        snap.restore()
        sys.modules.update(sys_modules)
        sys.meta_path[:] = import_state[0]
        sys.path_hooks[:] = import_state[1]
        streams = _state.get("streams")
        if streams:
            sys.stdout, sys.stderr = streams

    def run(self, group, *args):
        seq = next(counter)
        restore_all()
        error = None
        try:
            with disable_torch_function():
                original_run(self, group, *args)
        except BaseException as exc:  # noqa: BLE001 (reported below, then re-raised)
            error = exc
        during = snap.changed()
        restore_all()
        try:  # only guarded checks are signed for: the grader judges the others from their probe data
            total = len(self.guarded_names(group))
        except Exception:  # noqa: BLE001 -- an unknown group (the run above raised already)
            total = 0
        if total == 0 and not during and error is None and self.judged_names(group):
            return  # nothing to sign: every check of this group is judged outside the kernel
        if during or total == 0:
            status = verdict_failed
        elif error is None:
            status = verdict_status(total, total)
        elif type(error) is group_failed_type and error.total == total:
            status = verdict_status(error.passed, total)
        else:
            status = verdict_failed
        print_(verdict_line(key, seq, group, status) + "\n", end="")  # one write: see boot.cap_output
        if during:
            raise failed_type("the code under test changed the grader's own functions while it was being checked "
                              f"({', '.join(during[:5])}): this is not accepted")
        if status == verdict_failed and error is not None:
            raise error
        if error is not None:
            print_(f"{error.passed} of {total} hidden checks passed (the grader decides the points: partial "
                   "credit, or none when the course grades all or nothing)")

    run.__doc__ = original_run.__doc__
    _core.CheckGroups.run = run
    # the guarded run is the one to keep: record it as the reference
    for label, owner, saved, strict in snap.items:
        if owner is _core.CheckGroups:
            saved["run"] = run


def capture_streams() -> None:
    """Called once ipykernel has installed its stdout/stderr: these are the streams verdicts go to."""
    _state["streams"] = (sys.stdout, sys.stderr)
