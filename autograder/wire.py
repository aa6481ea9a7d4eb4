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
import warnings

import torch

MAX_ENCODED_CHARS = 8_000_000  # one group's data; the rmsnorm groups send a few tens of kB
MAX_ITEMS = 100_000  # tensors, numbers, strings, lists and dicts in one group's data (the probes send < 1000)


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
        with warnings.catch_warnings():  # torch warns about unusual pickle protocols: the data is refused anyway
            warnings.simplefilter("ignore")
            data = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except (binascii.Error, ValueError) as exc:
        raise BadProbeData(f"the probe data is not base64: {exc}") from None
    except Exception as exc:  # noqa: BLE001 -- torch.load raises many types on bad input; all mean "not readable"
        raise BadProbeData(f"the probe data cannot be read safely ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadProbeData(f"the probe data is a {type(data).__name__}, not a dict")
    check_tensors(data)
    return data


def check_tensors(data: object) -> None:
    """Refuse data whose tensors hold more elements than their bytes: a tensor expanded from one stored number
    (stride 0) is a few bytes on the wire and any size for the judge, whose comparisons would then take minutes
    and gigabytes of the grading process. Every tensor a probe sends is a plain, dense copy (`plain`)."""
    stack, seen = [data], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_ITEMS:
            raise BadProbeData(f"the probe data holds more than {MAX_ITEMS} items")
        if isinstance(item, dict):
            stack.extend(item.keys())
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
