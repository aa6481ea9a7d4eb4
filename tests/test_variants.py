"""Answer variants written as mutants of the reference (autograder/variants.py): made from the instructor's solution
cell, and every mistake in writing one named (the generic suite, tests/test_checks.py, tests what they catch)."""
import pytest

from autograder import variants
from autograder.notebook_text import reference_answers
from autograder.variants import VariantError, find_variant


def write_mutants(tmp_path, monkeypatch, lines: str, files=()):
    folder = tmp_path / "rmsnorm"
    (folder / "wrong").mkdir(parents=True)
    (folder / "variants.toml").write_text("[mutants]\n" + lines)
    for name in files:
        (folder / "wrong" / f"{name}.py").write_text("# a file\n")
    monkeypatch.setattr(variants, "HERE", tmp_path)


def test_a_mutant_is_the_reference_with_one_change_and_runs_alone():
    mutant = find_variant("rmsnorm/wrong/multiplies_by_the_rms")
    reference = reference_answers("03_rmsnorm")["rmsnorm_impl"]
    assert mutant.code.splitlines()[0] == f"# {mutant.mistake}"
    assert mutant.code.split("\n", 1)[1] == reference.replace("torch.rsqrt(", "torch.sqrt(")
    namespace = variants.load_variant(mutant)  # with the notebook's earlier cells: imports, provided code
    assert "RMSNorm" in namespace and namespace["RMSNorm"](4).weight.shape == (4,)
    assert "[mutants] multiplies_by_the_rms" in str(mutant)


@pytest.mark.parametrize("line, words", [
    ('bad = "just a string"\n', "write { mistake"),
    ('bad = { mistake = "m", cell = "no_such_cell", replace = ["a", "b"] }\n', "no solution cell 'no_such_cell'"),
    ('bad = { mistake = "m", cell = "rmsnorm_impl", replace = ["not in it", "b"] }\n', "occurs 0 times"),
    ('bad = { mistake = "m", cell = "rmsnorm_impl", replace = ["self.", "b"] }\n', "exactly once"),
    ('bad = { mistake = "m", cell = "rmsnorm_impl", replace = [["a", "b", "c"]] }\n', "pairs"),
])
def test_a_mutant_that_cannot_be_made_is_named_with_the_fix(tmp_path, monkeypatch, line, words):
    write_mutants(tmp_path, monkeypatch, line)
    with pytest.raises(VariantError, match="bad") as raised:
        variants.variants("rmsnorm", "wrong")
    assert words in str(raised.value)


def test_a_mutant_and_a_file_of_one_name_are_refused(tmp_path, monkeypatch):
    write_mutants(tmp_path, monkeypatch, 'twice = { mistake = "m", cell = "rmsnorm_impl", replace = '
                  '["torch.rsqrt(", "torch.sqrt("] }\n', files=["twice"])
    with pytest.raises(VariantError, match="twice.py has that name too"):
        variants.variants("rmsnorm", "wrong")
