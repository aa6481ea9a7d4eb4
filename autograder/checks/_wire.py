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
    return data


def roundtrip(data: dict) -> dict:
    """What the judge would receive for `data`: the unit tests' way through the channel."""
    return decode(encode(data))
