"""One list of packages; a torch requirement that the CPU wheel 2.13.0 satisfies."""
import yaml
from packaging.requirements import Requirement

from autograder.paths import REPO


def requirements():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def test_environment_yml_installs_requirements_txt():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_deps = [d for d in env["dependencies"] if isinstance(d, dict)]
    # no second package list that could drift: conda brings python and pip, pip installs requirements.txt
    assert sorted(conda_deps) == ["pip", "python=3.11"], conda_deps
    assert pip_deps == [{"pip": ["-r requirements.txt"]}], pip_deps


def test_torch_is_a_range_that_2_13_0_satisfies():
    torch = next(r for r in requirements() if r.name == "torch")
    assert torch.specifier, "an open torch requirement pulls a multi-GB CUDA build"
    assert torch.specifier.contains("2.13.0")


def test_pyproject_takes_its_dependencies_from_requirements_txt():
    text = (REPO / "pyproject.toml").read_text()
    assert 'dependencies = { file = ["requirements.txt"] }' in text
