# Class 1 (issue 20) on exercise 1: a wrong (post-norm) block looks in its process for the judges' reference block
# (torch_layer, block_reference, reference_block, prescribed_weights), by import, in every loaded module and among
# all objects the garbage collector knows. The kernel holds the probes and their input builders only: nothing is
# found (no LEAK), and the score is the wrong block's.
# notebook: 01_decoder_block decoder_block_impl
# base: decoder/wrong/block_post_norm
# baseline: decoder_wrong_baseline
# expect: score <= baseline
# expect: no LEAK
import gc
import importlib
import sys

_WANTED = {"torch_layer", "block_reference", "reference_block", "prescribed_weights", "_mha_reference", "torch_output",
           "expect_close", "follows_reference"}
for _name in ("lab.judges", "lab.judges.decoder", "lab.judges._block", "autograder.variants"):
    try:
        importlib.import_module(_name)
        print("LEAK imported", _name)
    except Exception as exc:  # noqa: BLE001
        print("cannot import", _name, type(exc).__name__)
for _name, _module in list(sys.modules.items()):
    if "judge" in _name:
        print("LEAK module loaded:", _name)
    if _name.startswith("autograder"):
        for _attr in set(dir(_module)) & (_WANTED | {"JUDGES", "Judges"}):
            print("LEAK attribute", _name, _attr)
for _obj in gc.get_objects():
    try:
        if callable(_obj) and getattr(_obj, "__name__", "") in _WANTED:
            print("LEAK function", getattr(_obj, "__module__", "?"), _obj.__name__)
    except Exception:  # noqa: BLE001
        pass
print("search done")
