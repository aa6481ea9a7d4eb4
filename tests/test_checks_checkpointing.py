"""The gradient-checkpointing hidden checks (2a-2c): what is particular to them, and the memory meter they rely on.
The rest (every variant, seed, replay, garbage) is in tests/test_checks.py."""
import torch
from check_harness import exercise

from lab.checks import checkpointing
from lab.judges import checkpointing as judges
from lab.provided.attention import MultiHeadAttention
from lab.provided.memory_meter import PeakMemory

# Small tensors: several threads only add contention (and make a loaded machine very slow).
torch.set_num_threads(1)

NOTEBOOK = "02_gradient_checkpointing"
EX = exercise("checkpointing")
WRONG = EX.variants("wrong")
CORRECT = EX.variants("correct")


def failures(namespace: dict) -> dict[str, str]:
    return EX.failures(namespace)


def load_answer(path) -> dict:
    return EX.load(path)


def test_failure_message_says_what_is_wrong_without_the_answer():
    path = next(p for p in WRONG if p.stem == "encoder_reentrant")
    message = failures(load_answer(path))["parameters_get_gradients_when_input_needs_none"]
    assert "got no gradient" in message and "use_reentrant" not in message


# --- the memory meter -----------------------------------------------------------------------------------------

MIB = 2**20


def test_meter_peak_of_a_known_allocation_pattern():
    """Three 1 MiB tensors, the first freed before the third is made: the peak is exactly 2 MiB."""
    with PeakMemory("cpu") as meter:
        a = torch.ones(MIB // 4)
        b = a * 2
        del a
        c = b + 1
    del b, c
    assert meter.peak_bytes == 2 * MIB


def test_meter_ignores_views_in_place_ops_and_memory_from_before():
    existing = torch.ones(MIB // 4)
    with PeakMemory("cpu") as meter:
        view = existing.view(512, 512).t()  # a view: no new memory
        existing.mul_(2)  # in place: no new memory
        new = existing[:1024].clone()  # 4 KiB
    assert meter.peak_bytes == 4096
    del view, new


def test_meter_sees_the_backward_pass():
    """y = (w * x).sum() saves x for backward; backward allocates the gradient (same size as w): 2 x 1 MiB."""
    w = torch.ones(MIB // 4, requires_grad=True)
    x = torch.ones(MIB // 4)
    with PeakMemory("cpu") as forward_only:
        y = (w * x).sum()
    with PeakMemory("cpu") as backward:
        y.backward()
    assert forward_only.peak_bytes == MIB + 4  # the product (1 MiB) is alive when the sum (4 bytes) is made
    assert backward.peak_bytes >= MIB  # w.grad
    assert w.grad is not None


def test_meter_is_deterministic_and_shows_checkpointing_saves_memory():
    torch.manual_seed(0)
    model = judges.ReferenceEncoder(4, 32, 4, dropout=0.1)
    x = torch.randn(4, 32, 32)
    peaks = {}
    for use_checkpointing in (False, True):
        runs = [judges.reference_peak(model, x, lambda: model(x, use_checkpointing=use_checkpointing))
                for _ in range(2)]
        assert runs[0] == runs[1]
        peaks[use_checkpointing] = runs[0]
    assert peaks[True] < 0.6 * peaks[False]


def test_a_remembered_reference_peak_is_what_the_meter_measures_for_other_values(monkeypatch):
    """The judge remembers reference peaks per step and shapes (judges.reference_peak's `step`): sound only if
    the values never change the peak. Other weights and inputs of the same shapes measure the same; other shapes
    are measured anew."""
    monkeypatch.setattr(judges, "_PEAKS", {})
    measured = {}
    for seed, shape in ((1, (4, 32)), (2, (4, 32)), (3, (3, 40))):
        torch.manual_seed(seed)
        model = judges.ReferenceEncoder(4, 32, 4, dropout=0.1)
        x = torch.randn(*shape, 32) * seed
        for k in (1, 2):
            fresh = judges.reference_peak(model, x, lambda: judges.reference_segments(model, x, k))
            remembered = judges.reference_peak(model, x, lambda: judges.reference_segments(model, x, k),
                                               step=f"k={k}")
            assert remembered == fresh
            measured[shape, k] = fresh
    assert len(judges._PEAKS) == 4  # two shapes x two steps: the second seed of (4, 32) found them
    assert measured[(4, 32), 1] != measured[(3, 40), 1] and measured[(4, 32), 1] != measured[(4, 32), 2]


def test_meter_imports_only_torch_and_the_standard_library():
    import ast
    import sys

    import lab.provided.memory_meter as meter_module

    tree = ast.parse(open(meter_module.__file__).read())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots <= {"torch"} | set(sys.stdlib_module_names)


def test_tests_of_2b_and_2c_use_nothing_from_2a():
    """2b and 2c are gradable when 2a is not done: their test cells, and the fixtures those share, build on the
    provided PlainEncoder, never on a name that 2a's answer or 2a's fixtures define."""
    import ast

    from autograder.notebook_text import build_notebook
    from autograder.paths import ASSIGNMENT, SOURCE

    cells = {cell.metadata["nbgrader"]["grade_id"]: cell.source
             for cell in build_notebook(SOURCE / ASSIGNMENT / f"{NOTEBOOK}.py").cells
             if "nbgrader" in cell.metadata}
    from_2a = set()
    for grade_id in ("encoder_impl", "test_fixtures"):
        tree = ast.parse(cells[grade_id])
        from_2a |= {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
        from_2a |= {target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
    assert {"TransformerEncoderCheckpointed", "small", "x_small"} <= from_2a
    for grade_id in ("plain_fixtures", "test_measure", "test_segments", "test_peak_by_k"):
        used = {node.id for node in ast.walk(ast.parse(cells[grade_id])) if isinstance(node, ast.Name)}
        assert not used & from_2a, f"{grade_id} uses {sorted(used & from_2a)} from 2a"


def test_every_gradient_sketch_sees_a_change_of_one_entry():
    """A sketched gradient (what a probe reports of a large gradient) changes when one entry changes by 1e-2."""
    grad = torch.randn(128, 32)
    changed = grad.clone()
    changed[7, 3] += 1e-2
    a, b = checkpointing.sketch("w", grad, 3), checkpointing.sketch("w", changed, 3)
    assert a.numel() == checkpointing.SKETCH_ROWS and not torch.allclose(a, b, rtol=1e-4, atol=1e-5)


# --- nothing to borrow: the kernel holds probes, never an answer -------------------------------------------------

def test_the_probe_module_holds_no_reference():
    """The checkpointed encoder, the segments and the peaks a correct answer gives live with the judges; importing
    the probes (what the grading kernel does) does not import the judges."""
    import subprocess
    import sys

    for name in ("ReferenceEncoder", "reference_segments", "reference_peak", "_PEAKS", "whole_stack"):
        assert not hasattr(checkpointing, name), name
    code = ("import sys; import lab.checks.checkpointing; "
            "assert not [m for m in sys.modules if m.startswith('lab.judges')], "
            "[m for m in sys.modules if m.startswith('lab.judges')]")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the recomputation witness -----------------------------------------------------------------------------------

def test_the_witness_keeps_the_students_objects_and_their_type_names():
    """The witness gives the student's own attn, ffn and norms another forward: the objects, their attributes, the
    layer's references to them and their classes' names and isinstance stay as they were."""
    namespace = load_answer(next(p for p in CORRECT if p.stem == "encoder_closure_and_kwargs"))
    model = namespace["TransformerEncoderCheckpointed"](2, 32, 4, d_ff=128, dropout=0.0)
    layer = model.layers[0]
    before = {name: (getattr(layer, name), type(getattr(layer, name)).__name__) for name in ("attn", "ffn", "norm1")}
    checkpointing.install_witness(model, 3, 0.0)
    for name, (obj, type_name) in before.items():
        assert getattr(layer, name) is obj and type(obj).__name__ == type_name
    assert isinstance(layer.attn, MultiHeadAttention) and isinstance(layer.norm1, torch.nn.LayerNorm)


def test_the_witness_tells_the_recomputations_apart():
    """Per-layer checkpointing, no checkpointing and one region over the whole stack give different gradients on
    the witness (well beyond the judges' tolerance), and the same outputs."""
    x = checkpointing._seeded_input(3, 13, requires_grad=True)
    data = {run: judges._expected_witness(3, 3, 13, x, run) for run in ("per layer", "plain", "whole stack")}
    for a, b in (("per layer", "plain"), ("per layer", "whole stack"), ("plain", "whole stack")):
        assert torch.allclose(data[a]["y"], data[b]["y"])
        assert judges._witness_differs(data[a], data[b]) is not None, (a, b)


def test_ordinary_code_that_calls_the_parts_again_does_not_imitate_recomputation():
    """Issue 20's attack on the hook-counted checks: no checkpointing, but each layer's attention (and
    feed-forward) called again in reverse order during the backward pass, as a recomputation would call them. The
    gradients are still those of a plain step."""
    class Imitation(torch.nn.Module):
        def __init__(self, num_layers, d_model, num_heads, d_ff=None, dropout=0.1):
            super().__init__()
            self.inner = checkpointing.PlainEncoder(num_layers, d_model, num_heads, d_ff, dropout)
            self.layers, self.final_norm = self.inner.layers, self.inner.final_norm

        def forward(self, x, mask=None, use_checkpointing=True):
            out = self.inner(x, mask)
            if use_checkpointing and self.training and out.requires_grad:
                def again(grad):
                    with torch.no_grad():
                        for layer in reversed(self.layers):
                            layer.attn(x, x, x, mask)
                            layer.ffn(x)
                    return grad
                out.register_hook(again)
            return out

    failed = checkpointing.GROUPS.failures(checkpointing.GROUPS.names("recomputation"), Imitation)
    assert "checkpointed_step_recomputes_each_layer_once" in failed
