"""One list of packages (requirements.txt), the exact versions tested (requirements.lock), and a conda
environment that takes PyTorch's CPU build from conda-forge and the rest from requirements.txt."""
import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from autograder.paths import REPO


def requirements(name: str = "requirements.txt") -> list[Requirement]:
    lines = (REPO / name).read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def locked_versions() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not name==version"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def conda_dependencies() -> tuple[dict[str, str], list]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    specs = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = re.fullmatch(r"([\w.-]+)(.*)", dep).groups()
            specs[name] = spec
    return specs, [d for d in env["dependencies"] if isinstance(d, dict)]


def test_environment_yml_takes_cpu_torch_from_conda_and_the_rest_from_requirements_txt():
    specs, pip_deps = conda_dependencies()
    assert sorted(specs) == ["pip", "python", "pytorch-cpu"], specs  # no second package list that could drift
    assert pip_deps == [{"pip": ["-r requirements.txt"]}], pip_deps
    torch = next(r for r in requirements() if r.name == "torch")
    # conda's match spec and pip's specifier write this range the same way: the conda package satisfies pip's torch.
    assert SpecifierSet(specs["pytorch-cpu"]) == torch.specifier, (specs["pytorch-cpu"], str(torch.specifier))


def test_environment_yml_python_is_one_pyproject_accepts():
    specs, _ = conda_dependencies()
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    python = specs["python"].lstrip("=")
    assert re.fullmatch(r"3\.\d+", python), f"environment.yml should name one Python version, not {python!r}"
    assert SpecifierSet(requires).contains(python), (python, requires)


def test_torch_is_a_range_that_2_13_0_satisfies():
    torch = next(r for r in requirements() if r.name == "torch")
    assert torch.specifier, "an open torch requirement pulls a multi-GB CUDA build"
    assert torch.specifier.contains("2.13.0")


def test_the_lock_pins_every_requirement_inside_its_range():
    """requirements.lock is refreshed with `make lock` whenever requirements.txt changes."""
    pins = locked_versions()
    for req in requirements() + requirements("requirements-test.txt"):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside requirements.txt's {req.specifier}: "
            "run `make lock`")


def test_the_lock_pins_the_cpu_torch_without_its_local_label():
    # `torch==2.13.0` matches the local CPU wheel 2.13.0+cpu as well as macOS's 2.13.0; `==2.13.0+cpu` would not.
    assert str(locked_versions()["torch"]) == "2.13.0"


def test_pyproject_takes_its_dependencies_from_requirements_txt():
    text = (REPO / "pyproject.toml").read_text()
    assert 'dependencies = { file = ["requirements.txt"] }' in text
    assert 'optional-dependencies = { test = { file = ["requirements-test.txt"] } }' in text


def test_tools_of_the_tests_are_an_extra_not_a_dependency():
    """pytest, nbval, playwright and ruff are the `test` extra (requirements-test.txt), not what the course runs on."""
    runtime = {canonicalize_name(r.name) for r in requirements()}
    tools = {canonicalize_name(r.name) for r in requirements("requirements-test.txt")}
    assert {"pytest", "nbval", "playwright", "ruff"} <= tools and not runtime & tools, runtime & tools
