"""Attacks on judging by the reference solution (`Judges(GROUPS, reference=solution(...))`), as a student who has read
every file would try them, each test asserting the SAFE behaviour.

The student controls everything in the kernel: the seed (autograder.probing._CHANNEL), the probes, `plain`, `drawn`,
torch itself, and so every byte of the probe line. What reaches the grader is one base64 `torch.save` archive per
check group (autograder/wire.py), read with `weights_only=True`, then `Judges.judge_group` / `verdict` / `same_data`
(autograder/judging.py) and `judge_cell` (autograder/nbgrader_ext/judge.py).

Written by a helper session that attacked the reference judge when it was new (2026-12-07); 16 of its attacks worked
then (complex values compared by their real part; odd, tensor and deeply nested keys crashing or holding the grader;
a 400 kB line that segfaulted torch.load; the cached reference changed by one student's grading for the next;
unseeded global randomness failing a correct answer; int32 for int64; the reference's numbers in messages; check
lines forged through a student's exception). Each is fixed and kept here as a plain test.
"""
from __future__ import annotations

import base64
import io
import math
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch
from check_harness import Added, Given, Scaled
from torch import nn

from autograder import wire
from autograder.judging import Judges
from autograder.nbgrader_ext.judge import GroupCall, judge_cell
from autograder.probing import CheckGroups, isolated_state, plain
from autograder.protocol import probe_line
from autograder.reference import as_while_validating
from autograder.wire import BadProbeData, roundtrip

REPO = Path(__file__).resolve().parent.parent
SEED = 4242
D = 4


def drawn(seed: int, stream: int, shape: tuple) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed * 1000 + stream))


# --- a reference-judged exercise, as `lab new-exercise` writes one ---------------------------------------------

GROUPS = CheckGroups(name="attacked")


def make(cls, seed: int) -> nn.Module:
    module = cls(D)
    with torch.no_grad():
        module.weight.copy_(drawn(seed, 1, (D,)))
    return module


@GROUPS.probe("values")
def outputs(cls, seed: int) -> dict:
    """the output equals the reference's for seeded weights and inputs"""
    module = make(cls, seed)
    return {"outputs": [plain(module(drawn(seed, 10 + i, shape))) for i, shape in enumerate([(3, 5, D), (7, D)])]}


@GROUPS.probe("values")
def gradients(cls, seed: int) -> dict:
    """gradients reach the input and the weight as the reference's do"""
    module = make(cls, seed)
    x = drawn(seed, 2, (3, D)).requires_grad_()
    (module(x) * drawn(seed, 3, (3, D))).sum().backward()
    return {"input": plain(x.grad), "weight": plain(module.weight.grad)}


@GROUPS.probe("values")
def summary(cls, seed: int) -> dict:
    """a summary of the output: its mean, its number of elements, its dtype"""
    y = make(cls, seed)(drawn(seed, 4, (3, D)))
    return {"mean": float(y.detach().mean()), "count": int(y.numel()), "dtype": str(y.dtype)}


def judges_of(groups: CheckGroups, *objects) -> Judges:
    return Judges(groups, reference=Given("demo", ("X",), given=objects))


JUDGES = judges_of(GROUPS, Scaled)


def data_of(cls, name: str, seed: int = SEED, groups: CheckGroups = GROUPS) -> dict:
    return roundtrip(groups.checks[name].run_probe((cls,), seed))


def one_check(reference, returns_for_the_student, seed: int = SEED):
    """A one-probe exercise `{"y": plain(fn(x))}` judged by `reference` (a function); the verdict on what the
    student's function `returns_for_the_student` gives."""
    groups = CheckGroups(name="one")

    @groups.probe("g")
    def value(fn, seed: int) -> dict:
        """the value equals the reference's"""
        return {"y": plain(fn(drawn(seed, 1, (3, 5))))}

    return judges_of(groups, reference).verdict("value", data_of(returns_for_the_student, "value", seed, groups),
                                                seed)


def forged_archive(pickle_bytes: bytes) -> str:
    """What a kernel can print instead of `wire.encode(...)`: a valid torch.save archive whose data.pkl is any pickle
    it writes by hand (the probes are the student's: nothing makes them call torch.save)."""
    buffer = io.BytesIO()
    torch.save({"k": 0}, buffer)
    source, out = zipfile.ZipFile(io.BytesIO(buffer.getvalue())), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, pickle_bytes if info.filename.endswith("/data.pkl")
                             else source.read(info.filename))
    return base64.b64encode(out.getvalue()).decode("ascii")


def nested_tuple_pickle(depth: int, as_key: bool) -> bytes:
    """{((((),),),): 0} (as_key) or {"values": ((((),),),)}, `depth` tuples deep: 1 byte a level (TUPLE1)."""
    nested = b")" + b"\x85" * depth
    return b"\x80\x02}" + (nested + b"K\x00" if as_key else b"X\x06\x00\x00\x00values" + nested) + b"s."


def judged_cell(group_data_text: str, judges: Judges = JUDGES):
    """judge_cell for the scaffold's `values` group, with `group_data_text` as the probe line's data."""
    call = GroupCall("lab", GROUPS.module, "values", judges)
    return judge_cell([call], probe_line(GROUPS.module, "values", group_data_text) + "\n", SEED)


# --- baseline --------------------------------------------------------------------------------------------------

def test_the_reference_passes_and_a_wrong_answer_fails():
    for name in GROUPS.checks:
        assert JUDGES.verdict(name, data_of(Scaled, name), SEED) is None
    assert JUDGES.verdict("outputs", data_of(Added, "outputs"), SEED) is not None


# --- attacks that work today -----------------------------------------------------------------------------------

def test_a_complex_reference_compares_the_imaginary_part():
    """Attack: the reference returns complex values (a rotary embedding written with torch.polar, say); the student
    sends only their real part (cos), or the right real part with any imaginary part. Both must fail."""
    def reference(x):
        return torch.polar(torch.ones_like(x), x)

    assert one_check(reference, torch.cos) is not None
    assert one_check(reference, lambda x: torch.complex(torch.cos(x), torch.full_like(x, 99.0))) is not None


def test_a_complex_output_for_a_real_reference_fails():
    """Attack: the student's forward returns a complex tensor whose real part is right and whose imaginary part is
    garbage (a RoPE that forgot `.real`): it must fail, not pass as the reference's real output."""
    assert one_check(lambda x: x * 2, lambda x: torch.complex(x * 2, torch.full_like(x, 7.0))) is not None


@pytest.mark.parametrize("keys", [("outputs", 1), "tensors"], ids=["str and int keys", "tensor keys"])
def test_group_data_with_odd_keys_fails_the_checks_without_crashing_the_grader(keys):
    """Attack: the group's data is a dict whose keys cannot be sorted together ({"outputs": ..., 1: ...}, or two
    tensors as keys). judge_group raises while writing its refusal, judge_cell lets it out, and
    SandboxedExecute._score_graded_cells crashes the grading of the whole notebook (nbgrader logs an error; the
    student is reported "failed", not scored)."""
    data = {"outputs": {}, 1: 0} if keys != "tensors" else {torch.ones(2): 0, torch.zeros(2): 0}
    judgement = judged_cell(wire.encode(data))
    assert judgement.passed == 0 and judgement.total == len(GROUPS.checks)


def test_a_deeply_nested_key_fails_the_checks_without_crashing_the_grader():
    """Attack: a forged archive (67 kB) whose group dict has one key, a tuple nested 50000 deep (under MAX_ITEMS).
    It decodes; judge_group's refusal message formats the key, RecursionError, out of judge_cell."""
    judgement = judged_cell(forged_archive(nested_tuple_pickle(50_000, as_key=True)))
    assert judgement.passed == 0


def test_a_deeply_nested_extra_key_fails_a_written_judge_without_crashing():
    """Attack on the strict reading (`Received`) of a written judge: the check's data has the key the judge reads and
    one more, a 50000-deep tuple. The refusal ("entries the grader did not ask for") must not raise."""
    own = Judges(GROUPS)

    @own.judge("outputs")
    def _(data, seed):
        data["outputs"]

    # {"outputs": 0, ((((),),),): 0}: refused by the wire (MAX_DEPTH); built here, the judge still refuses it
    nested = forged_archive(b"\x80\x02}(X\x07\x00\x00\x00outputsK\x00" + b")" + b"\x85" * 50_000 + b"K\x00u.")
    with pytest.raises(BadProbeData, match="nested more than"):
        wire.decode(nested)
    key = ()
    for _ in range(50_000):
        key = (key,)
    message = own.verdict("outputs", {"outputs": 0, key: 0}, SEED)
    assert message is not None and "a tuple" in message


def test_a_deeply_nested_tuple_key_is_refused_without_killing_the_grader():
    """Attack: a forged archive of 400 kB (well under MAX_ENCODED_CHARS) whose dict key is a tuple nested 300000
    deep. torch.load's weights-only unpickler builds it iteratively, then inserts it in the dict: the hash recurses
    in C and the grading process dies of a segmentation fault before check_tensors counts anything (a worker
    killed: the student is reported "failed", and the notebooks it was grading are lost). Run in a child process."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from autograder import wire
        from test_reference_judge_attacks import forged_archive, nested_tuple_pickle
        try:
            wire.decode(forged_archive(nested_tuple_pickle(300_000, as_key=True)))
        except wire.BadProbeData:
            print("refused")
    """)
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0 and "refused" in child.stdout, (child.returncode, child.stderr[-500:])


def test_tensor_keys_cannot_make_the_grader_print_megabytes():
    """Attack (time and memory of the grader's process): the check's data is a dict whose keys are views of ONE
    uint8 storage with shape (2,)*k, which torch prints without summarising (no dimension is longer than 6). Each
    extra key costs ~250 bytes on the wire and 2**k x 14 microseconds in the grader: here 20 keys of 4096 elements
    give a 1 MB message; with one 4 MiB storage (5.6 MB of base64) and shape (2,)*22, each key takes about a minute
    and 70 MB of string, so a thousand keys hold a grading worker for most of a day. The message must stay short."""
    storage = torch.zeros(2**12, dtype=torch.uint8)
    with pytest.raises(BadProbeData, match="not a string or an integer"):  # refused by the wire
        wire.decode(wire.encode({"outputs": {storage.view((2,) * 12): 0 for _ in range(20)}}))
    data = {"outputs": {storage.view((2,) * 12): 0 for _ in range(20)}}  # built here, the judge still copes
    start = time.perf_counter()
    message = JUDGES.verdict("outputs", data["outputs"], SEED)
    assert message is not None and len(message) <= 2000, len(message)
    assert time.perf_counter() - start < 0.5


def test_a_tensor_group_key_cannot_make_the_grader_print_megabytes():
    """Same attack one level up: the group's data is {tensor of shape (2,)*14: 0}; judge_group's message quotes the
    key (245 kB here, unbounded in general) and judge_cell repeats it for every check of the group."""
    key = torch.zeros((2,) * 14, dtype=torch.uint8)
    judgement = judged_cell(wire.encode({key: 0}))
    assert judgement.passed == 0
    assert sum(map(len, judgement.lines)) <= 2000 * len(GROUPS.checks)


def test_grading_one_student_does_not_change_the_reference_for_the_next():
    """Attack on the reference's cached state: the hidden-test line passes an object (a model the notebook builds,
    `solution(nb, "model")`), and the probe mutates it (backward accumulates .grad). The grading worker keeps one
    reference per process and grades many students (autograder/grading.py), so the second student's identical,
    correct data fails: a student's grade depends on who was graded before in the same worker."""
    groups = CheckGroups(name="instance")

    @groups.probe("g")
    def grads(model, seed: int) -> dict:
        """gradients of the model's weight"""
        model(drawn(seed, 1, (3, 4))).sum().backward()
        return {"w": plain(model.weight.grad)}

    reference = nn.Linear(4, 2)
    judges = judges_of(groups, reference)
    for _student in range(2):
        copy = nn.Linear(4, 2)
        copy.load_state_dict(reference.state_dict())
        assert judges.verdict("grads", data_of(copy, "grads", groups=groups), SEED) is None


def test_the_reference_s_own_code_passes_whatever_the_kernel_s_random_state():
    """A CORRECT answer failed: a probe that leaves one source of randomness to the module (an nn.Linear's bias it
    does not overwrite, a dropout layer in training mode) makes the reference's data depend on the grader process's
    global random stream, not on the seed. The reference's own code, run in a kernel (reseeded from the system at
    start, autograder/jail/zygote.py), then fails its own check."""
    groups = CheckGroups(name="random")

    @groups.probe("g")
    def linear(cls, seed: int) -> dict:
        """the output for seeded weights (the bias left as initialised)"""
        module = cls(4, 4)
        with torch.no_grad():
            module.weight.copy_(drawn(seed, 1, (4, 4)))
        return {"y": plain(module(drawn(seed, 2, (3, 4))))}

    judges = judges_of(groups, nn.Linear)
    with isolated_state():
        torch.manual_seed(987654321)  # the kernel's own stream
        data = data_of(nn.Linear, "linear", groups=groups)
    assert judges.verdict("linear", data, SEED) is None


def test_the_same_integers_in_another_integer_dtype_are_accepted_or_named():
    """A CORRECT answer failed with a misleading message: token ids or indices returned as int32 (`.int()`) where the
    reference returns int64 (argmax). Either accepted (the docstring: dtypes are the probe's to report) or refused
    with a message that names the dtype, not "values are wrong"."""
    message = one_check(lambda x: x.argmax(-1), lambda x: x.argmax(-1).int())
    assert message is None or "int32" in message, message


def test_a_failure_does_not_give_the_reference_s_numbers_away():
    """Leak: CheckFailed's contract is 'what is wrong without giving the answer away', but a wrong float (or int)
    entry is refused with the reference's value in the message, shown in the student's feedback (a count, a loss, a
    number of parameters: often the same for every seed)."""
    data = data_of(Scaled, "summary")
    expected_mean, expected_count = data["mean"], data["count"]
    data.update(mean=0.0, count=0)
    message = JUDGES.verdict("summary", data, SEED)
    assert message is not None
    assert f"{expected_mean:.6g}" not in message and f"{expected_mean:.3g}" not in message, message
    data = data_of(Scaled, "summary")
    data.update(count=expected_count + 1)
    assert str(expected_count) not in JUDGES.verdict("summary", data, SEED).split(":", 1)[1]


@pytest.mark.parametrize("how", ["the student's exception", "a forged error entry", "a forged type name"])
def test_a_student_cannot_write_a_check_line_into_the_judgement(how):
    """Attack on the feedback and the instructor's report: text the student controls reaches the judge's own lines
    (`  -> your code raised ValueError: ...`). With "\\n[ok  ] outputs: ..." in it, the feedback shows the failed check
    as passed, and autograder/report.py (which takes a check's LAST line in the cell: "the last line is theirs")
    counts it passed. No forging needed: `raise ValueError(...)` in forward does it. The points are not changed."""
    from autograder.protocol import parse_check_lines

    fake = "oops\n[ok  ] outputs: the output equals the reference's for seeded weights and inputs"

    class Raises(Scaled):
        def forward(self, x):
            raise ValueError(fake)

    data = {name: data_of(Scaled, name) for name in GROUPS.checks}
    if how == "the student's exception":
        data["outputs"] = data_of(Raises, "outputs")
    elif how == "a forged error entry":
        data["outputs"] = {"error": fake}
    else:
        data["outputs"]["outputs"][0] = f"<{fake}>"
    judgement = judged_cell(wire.encode(data))
    assert judgement.passed == len(GROUPS.checks) - 1
    assert dict(parse_check_lines("\n".join(judgement.lines)))["outputs"] is False


# --- attacks the grader refuses ---------------------------------------------------------------------------------

def test_knowing_the_seed_and_changing_the_probe_s_inputs_gains_nothing(monkeypatch):
    """The kernel can read the seed (probing._CHANNEL) and patch the probe module: weights and inputs of zeros make a
    wrong forward look like anything. The judge draws its own inputs for the reference: refused."""
    monkeypatch.setattr(sys.modules[__name__], "drawn", lambda seed, stream, shape: torch.zeros(shape))
    forged = data_of(Added, "outputs")
    monkeypatch.undo()
    assert "values are wrong" in JUDGES.verdict("outputs", forged, SEED)


@pytest.mark.parametrize("kind", ["quantized", "nested", "bfloat16 rounded", "bool", "uint8", "Parameter",
                                  "sparse", "meta", "expanded"])
def test_tensors_of_another_kind_are_refused_without_crashing(kind):
    """Every exotic tensor the wire can carry, in place of the reference's float tensor: refused with a message,
    at decode or by same_data, never an exception out of judge_cell."""
    right = data_of(Scaled, "outputs")["outputs"][1]
    forged = {
        "quantized": lambda: torch.quantize_per_tensor(right, 0.01, 0, torch.qint32),
        "nested": lambda: torch.nested.nested_tensor([right[0], right[1]]),
        "bfloat16 rounded": lambda: right.bfloat16(),
        "bool": lambda: right > 0,
        "uint8": lambda: right.round().to(torch.uint8),
        "Parameter": lambda: nn.Parameter(right.clone()),
        "sparse": lambda: right.to_sparse(),
        "meta": lambda: right.to("meta"),
        "expanded": lambda: right[:1].expand(7, D),
    }[kind]()
    data = {name: data_of(Scaled, name) for name in GROUPS.checks}
    data["outputs"]["outputs"][1] = forged
    judgement = judged_cell(wire.encode(data))
    # refused at decode (the whole group: sparse, meta, Parameter, expanded) or by same_data (this check only)
    assert judgement.passed in (0, len(GROUPS.checks) - 1), judgement.lines
    assert "[FAIL] outputs" in judgement.lines[0]


def test_a_bool_mask_and_an_integer_mask_are_not_interchangeable():
    """bool for uint8 and uint8 for bool: refused (a mask's dtype changes what attention does with it)."""
    assert one_check(lambda x: x > 0, lambda x: (x > 0).to(torch.uint8)) is not None
    assert one_check(lambda x: (x > 0).to(torch.uint8), lambda x: x > 0) is not None


def test_correct_answers_in_other_float_styles_pass():
    """float64 results, a result that requires grad (plain detaches it), a non-contiguous result: all correct."""
    def reference(x):
        return x * 2

    assert one_check(reference, lambda x: x.double() * 2) is None
    assert one_check(reference, lambda x: (x * 2).requires_grad_()) is None
    assert one_check(reference, lambda x: (x.t().contiguous() * 2).t()) is None


@pytest.mark.parametrize("student, passes", [
    (lambda x: x.masked_fill(x < 0, -math.inf), True),
    (lambda x: x.masked_fill(x < 0, math.nan), False),
    (lambda x: x.masked_fill(x < 0, math.inf), False),
    (lambda x: x.masked_fill(x < 0, -1e9), False),
], ids=["-inf where -inf", "nan where -inf", "+inf where -inf", "finite where -inf"])
def test_infinities_must_be_where_the_reference_has_them(student, passes):
    """Non-finite values compare by place and sign (NaN only matches NaN): nothing a forger can spread around."""
    assert (one_check(lambda x: x.masked_fill(x < 0, -math.inf), student) is None) == passes


def test_many_views_of_one_storage_cost_no_more_than_the_reference_s_data():
    """Thousands of full-size views of one storage pass check_tensors (each holds no more elements than the storage),
    but same_data only ever touches the entries where the reference has a tensor, of the reference's shape."""
    storage = torch.zeros(2**20)
    forged = data_of(Scaled, "outputs")
    forged["outputs"] = [storage.view(2**10, 2**10)] * 2000
    data = wire.decode(wire.encode({"outputs": forged}))["outputs"]
    start = time.perf_counter()
    assert "2000 items, expected 2" in JUDGES.verdict("outputs", data, SEED)
    assert time.perf_counter() - start < 1


def test_a_deeply_nested_list_in_place_of_a_tensor_fails_without_crashing():
    """A forged archive whose entry is a list 50000 lists deep (under MAX_ITEMS): refused by the wire (MAX_DEPTH)
    before torch.load builds it."""
    deep = b"]" * 50_000 + b"a" * 49_999
    with pytest.raises(wire.BadProbeData, match="nested more than"):  # refused before it is built
        wire.decode(forged_archive(b"\x80\x02}X\x07\x00\x00\x00outputs" + deep + b"s."))


@pytest.mark.parametrize("value", ["huge int", "huge string", "numpy"])
def test_odd_values_fail_quickly_without_crashing(value):
    """A 240 kB integer (its repr is refused by Python's int limit, caught), a 6 MB string, a numpy scalar (refused
    by weights_only: the whole group fails) in place of the reference's entries."""
    data = {name: data_of(Scaled, name) for name in GROUPS.checks}
    if value == "huge int":
        data["summary"]["count"] = 7 ** 700_000
    elif value == "huge string":
        data["summary"]["dtype"] = "x" * 6_000_000
    else:
        import numpy
        data["summary"]["mean"] = numpy.float64(data["summary"]["mean"])
    start = time.perf_counter()
    judgement = judged_cell(wire.encode(data))
    assert judgement.passed < len(GROUPS.checks)
    assert time.perf_counter() - start < 5
    assert sum(map(len, judgement.lines)) < 5000


def test_the_reference_run_leaves_the_grader_s_state_as_it_was(monkeypatch):
    """Judging by the reference runs trusted code in nbgrader's process: the random streams, grad mode and
    NBGRADER_EXECUTION (set to validate while the notebook loads) are as they were for the next judge."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    torch.manual_seed(5)
    before = torch.get_rng_state()
    JUDGES.expected("outputs", SEED)
    with as_while_validating():
        assert os.environ["NBGRADER_EXECUTION"] == "validate"
        torch.manual_seed(0)
    assert os.environ["NBGRADER_EXECUTION"] == "autograde"
    assert torch.equal(torch.get_rng_state(), before) and torch.is_grad_enabled()


def test_the_student_s_error_text_is_cut_and_says_nothing_of_the_reference():
    """The kernel may send {"error": anything}: the check fails with the student's own text, at most 500 characters;
    no expected value is computed into it."""
    message = JUDGES.verdict("outputs", {"error": "x" * 10_000}, SEED)
    assert message == "x" * 497 + "..."


def test_data_for_another_seed_does_not_pass():
    """Data recorded for another seed (another grading run, a classmate's notebook) fails for this one."""
    for name in GROUPS.checks:
        if name != "summary":  # its count and dtype do not depend on the seed; its mean does
            assert JUDGES.verdict(name, data_of(Scaled, name, SEED + 1), SEED) is not None
    assert "mean:" in JUDGES.verdict("summary", data_of(Scaled, "summary", SEED + 1), SEED)


def test_a_decoded_group_with_a_bad_probe_line_gets_no_points():
    """Not base64, not a torch archive, an archive whose pickle calls a function: refused at decode."""
    evil = forged_archive(b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.")
    for text in ["!!!", base64.b64encode(b"PK junk").decode(), evil]:
        with pytest.raises(BadProbeData):
            wire.decode(text)
        assert judged_cell(text).passed == 0
