"""Answer variants written as changes of the reference, mutants (wrong) and rewrites (correct)
(autograder/variants.py): made from the instructor's solution cell, and every mistake in writing one named (the
generic suite, tests/test_checks.py, tests what they catch)."""
import pytest

from autograder import variants
from autograder.notebook_text import reference_answers
from autograder.variants import VariantError, find_variant


def write_changes(tmp_path, monkeypatch, lines: str, files=(), table="mutants", kind="wrong"):
    folder = tmp_path / "rmsnorm"
    (folder / kind).mkdir(parents=True)
    (folder / "variants.toml").write_text(f"[{table}]\n" + lines)
    for name in files:
        (folder / kind / f"{name}.py").write_text("# a file\n")
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
    write_changes(tmp_path, monkeypatch, line)
    with pytest.raises(VariantError, match="bad") as raised:
        variants.variants("rmsnorm", "wrong")
    assert words in str(raised.value)


def test_a_mutant_and_a_file_of_one_name_are_refused(tmp_path, monkeypatch):
    write_changes(tmp_path, monkeypatch, 'twice = { mistake = "m", cell = "rmsnorm_impl", replace = '
                  '["torch.rsqrt(", "torch.sqrt("] }\n', files=["twice"])
    with pytest.raises(VariantError, match="twice.py has that name too"):
        variants.variants("rmsnorm", "wrong")


def test_a_rewrite_is_a_correct_variant_made_the_same_way():
    rewrite = find_variant("rmsnorm/correct/divides_by_the_sqrt")
    reference = reference_answers("03_rmsnorm")["rmsnorm_impl"]
    assert rewrite.mistake == "" and rewrite.code.startswith("# divides by torch.sqrt")
    assert rewrite.code.split("\n", 1)[1] == reference.replace(
        "xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + self.eps)",
        "xc / torch.sqrt((xc * xc).mean(dim=-1, keepdim=True) + self.eps)")
    assert "[rewrites] divides_by_the_sqrt" in str(rewrite)
    assert rewrite in variants.variants("rmsnorm", "correct")
    assert rewrite.id not in {v.id for v in variants.variants("rmsnorm", "wrong")}


@pytest.mark.parametrize("line, words", [
    ('bad = { mistake = "m", cell = "rmsnorm_impl", replace = ["torch.rsqrt(", "1 / torch.sqrt("] }\n',
     "write { how"),
    ('bad = { how = "h", cell = "rmsnorm_impl", replace = ["not in it", "b"] }\n', "occurs 0 times"),
])
def test_a_rewrite_that_cannot_be_made_is_named_with_the_fix(tmp_path, monkeypatch, line, words):
    write_changes(tmp_path, monkeypatch, line, table="rewrites", kind="correct")
    with pytest.raises(VariantError, match="rewrites. bad") as raised:
        variants.variants("rmsnorm", "correct")
    assert words in str(raised.value)


def test_a_rewrite_and_a_file_of_one_name_are_refused(tmp_path, monkeypatch):
    write_changes(tmp_path, monkeypatch, 'twice = { how = "h", cell = "rmsnorm_impl", replace = '
                  '["torch.rsqrt(", "1 / torch.sqrt("] }\n', files=["twice"], table="rewrites", kind="correct")
    with pytest.raises(VariantError, match="correct/twice.py has that name too"):
        variants.variants("rmsnorm", "correct")
