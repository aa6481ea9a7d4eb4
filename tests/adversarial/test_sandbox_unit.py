"""Fast checks of the sandbox's parts that need no grading run."""
from __future__ import annotations

import shutil

import nbformat
import pytest

import autograder.jail as sandbox
from autograder.nbgrader_ext.feedback import HideHiddenTests
from autograder.protocol import check_line, parse_check_lines


def test_refuses_loudly_without_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.probe.cache_clear()
    monkeypatch.delenv(sandbox.UNSANDBOXED_FLAG, raising=False)
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="REFUSING TO GRADE.*AUTOGRADER_UNSANDBOXED=1"):
            sandbox.require()
        monkeypatch.setenv(sandbox.UNSANDBOXED_FLAG, "1")
        assert sandbox.require() is False
    finally:
        sandbox.probe.cache_clear()


def test_check_lines_round_trip():
    text = "student output [FAIL] fake: no\n" + check_line("shape", True, "d") + "\n" + check_line("scale", False, "d")
    assert parse_check_lines(text) == [("shape", True), ("scale", False)]


def test_feedback_hides_hidden_tests():
    cell = nbformat.v4.new_code_cell(
        "assert True\nprint('visible')\n### BEGIN HIDDEN TESTS\nfrom autograder.checks import rmsnorm as _c; "
        "_c.GROUPS.run('values', RMSNorm)\n### END HIDDEN TESTS\n")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="[FAIL] x: y\n[probe rmsnorm values AAAA]\n"),
                    nbformat.v4.new_output("error", ename="CheckFailed", evalue="1 of 1 checks failed",
                                           traceback=["... _c.GROUPS.run('values', RMSNorm) ..."])]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0]
    assert "GROUPS" not in out.source and "visible" in out.source
    assert out.outputs[0].text == "[FAIL] x: y\n"
    assert out.outputs[1].traceback == ["CheckFailed: 1 of 1 checks failed"]


def test_the_grading_kernel_starts_through_a_registered_provisioner(tmp_path):
    """jupyter_client's public extension point: the kernel spec names the provisioner, which is registered."""
    from jupyter_client.provisioning import KernelProvisionerFactory

    from autograder.jail.provisioner import JailProvisioner, jail_kernel_manager

    km = jail_kernel_manager(env={"AG_SB_MEMORY_MB": "1024"})
    spec = km.kernel_spec
    assert spec.argv[1:3] == ["-m", "autograder.jail.launch"] and spec.env == {"AG_SB_MEMORY_MB": "1024"}
    assert km.transport == "ipc"
    provisioner = KernelProvisionerFactory.instance().create_provisioner_instance("k", spec, km)
    assert isinstance(provisioner, JailProvisioner)
    shutil.rmtree(provisioner.runtime)  # the kernel was never started: nothing else removes its folder


def test_only_the_jails_copy_of_the_checks_is_ever_hidden(tmp_path):
    """The kernel (or the zygote) deletes the checks' files once it has loaded them, so that student code cannot
    read them: in the staged copy only. Run by hand outside a jail, it once deleted this repository's checks."""
    import os
    import subprocess
    import sys

    from autograder.jail.launch import stage_python

    hide = "from autograder.jail import boot; boot.hide_check_sources()"
    staged, unmarked = tmp_path / "staged", tmp_path / "unmarked"
    stage_python(staged)
    stage_python(unmarked)
    (unmarked / "autograder" / "checks" / ".staged").unlink()
    for stage in (staged, unmarked):
        subprocess.run([sys.executable, "-c", hide], check=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(stage), "PYTHONSAFEPATH": "1"})
    assert os.listdir(staged / "autograder" / "checks") == []
    assert "_core.py" in os.listdir(unmarked / "autograder" / "checks")


def test_the_judges_are_never_staged_into_the_jail(tmp_path):
    """Issue 20: nothing to borrow. The kernel gets the probes, never the judges with their references."""
    from autograder.jail.launch import stage_python

    stage_python(tmp_path)
    staged = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")}
    assert "autograder/checks/rmsnorm.py" in staged
    assert not [p for p in staged if p.startswith("autograder/judges") or "nbgrader_ext" in p or "variants" in p]
