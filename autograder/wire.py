"""How a probe's data travels from the grading kernel to the judge: plain data only, safely serialised.

The kernel writes `torch.save` bytes (base64, on one probe line of the cell's output: autograder/protocol.py); the
grader reads them back with `torch.load(weights_only=True)`, which rebuilds tensors, numbers, strings, lists and
dicts and refuses everything else (no pickled code, no tensor subclasses). The same round trip runs in the unit
tests, so a check whose data does not survive the channel fails there first.
"""
from __future__ import annotations

import base64
import binascii
import io
import pickletools
import warnings
import zipfile

import torch

MAX_ENCODED_CHARS = 8_000_000  # one group's data; the rmsnorm groups send a few tens of kB
MAX_ITEMS = 100_000  # tensors, numbers, strings, lists and dicts in one group's data (the probes send < 1000)
# How deep containers may nest (the probes send dicts of lists of tensors: a tensor's own pickle is about 4 deep).
# Deeper data is refused before torch.load builds it: CPython hashes a tuple (a dict key) recursively without a
# depth guard, so a key nested 300000 deep, 400 kB on the wire, crashes the grading process (issue 22's attack).
MAX_DEPTH = 64


class BadProbeData(ValueError):
    """What the kernel sent back is not data the judge can read."""


def encode(data: dict) -> str:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode(text: str) -> dict:
    if len(text) > MAX_ENCODED_CHARS:
        raise BadProbeData(f"the probe data is too large ({len(text)} characters, at most {MAX_ENCODED_CHARS})")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadProbeData(f"the probe data is not base64: {exc}") from None
    check_nesting(raw)
    try:
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols: the data is refused anyway
            warnings.simplefilter("ignore")
            data = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 -- torch.load raises many types on bad input; all mean "not readable"
        raise BadProbeData(f"the probe data cannot be read safely ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadProbeData(f"the probe data is a {type(data).__name__}, not a dict")
    check_tensors(data)
    return data


def check_nesting(raw: bytes) -> None:
    """Refuse a torch.save archive whose pickle builds anything nested deeper than MAX_DEPTH, without building it:
    the pickle machine is followed op by op (pickletools' stack effects), each stack entry and memo slot holding
    how deep the object it stands for is."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
            if len(names) != 1:
                raise BadProbeData("the probe data is not one torch.save archive")
            pickle = archive.read(names[0])
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError) as exc:
        if isinstance(exc, BadProbeData):
            raise
        raise BadProbeData(f"the probe data is not a torch.save archive ({type(exc).__name__})") from None
    mark, stack, memo = object(), [], {}
    filled_in_place = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "BUILD", "ADDITEMS"}
    try:
        for op, arg, _ in pickletools.genops(pickle):
            popped = []
            for item in reversed(op.stack_before):
                if item is pickletools.stackslice:
                    while stack[-1] is not mark:
                        popped.append(stack.pop())
                elif item is pickletools.markobject:
                    if stack.pop() is not mark:
                        raise ValueError("no mark")
                else:
                    popped.append(stack.pop())
            if op.name in filled_in_place and popped:  # the container (popped last) gains what goes into it
                depth = max(popped[-1], 1 + max(popped[:-1], default=0))
            else:
                depth = 1 + max(popped, default=0)
            if depth > MAX_DEPTH:
                raise BadProbeData(f"the probe data is nested more than {MAX_DEPTH} deep")
            if op.name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, 1))
                continue
            if op.name == "DUP":
                stack.append(stack[-1])
                continue
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif op.name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            stack.extend(mark if item is pickletools.markobject else depth for item in op.stack_after)
    except BadProbeData:
        raise
    except Exception as exc:  # noqa: BLE001 -- a pickle pickletools cannot follow is not one torch.save wrote
        raise BadProbeData(f"the probe data cannot be read safely ({type(exc).__name__})") from None


def check_tensors(data: object) -> None:
    """Refuse data whose tensors hold more elements than their bytes: a tensor expanded from one stored number
    (stride 0) is a few bytes on the wire and any size for the judge, whose comparisons would then take minutes
    and gigabytes of the grading process. Every tensor a probe sends is a plain, dense copy (`plain`). Dict keys
    are strings or integers (what probes use): a tensor or tuple as a key is refused, not printed or compared."""
    stack, seen = [data], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            raise BadProbeData(f"the probe data holds more than {MAX_ITEMS} items")
        if isinstance(item, dict):
            if not all(type(key) in (str, int) for key in item):
                raise BadProbeData("the probe data has a dict key that is not a string or an integer")
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, torch.Tensor):
            if type(item) is not torch.Tensor or item.layout != torch.strided or item.is_meta:
                raise BadProbeData(f"the probe data holds a tensor of another kind ({type(item).__name__}, "
                                   f"{item.layout})")
            if item.numel() * item.element_size() > item.untyped_storage().nbytes():
                raise BadProbeData(f"the probe data holds a tensor of shape {tuple(item.shape)} with fewer numbers "
                                   "than elements (expanded)")


def roundtrip(data: dict) -> dict:
    """What the judge would receive for `data`: the unit tests' way through the channel."""
    return decode(encode(data))
