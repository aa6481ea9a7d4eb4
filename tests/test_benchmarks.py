"""The benchmarks are not run by the tests (their figures need a quiet machine), but they must still run: each
imports what it measures, and where_time_goes.py instruments methods by name (a renamed method broke it once)."""
import subprocess
import sys

from autograder.paths import REPO


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, 'benchmarks'); {code}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_where_time_goes_instruments_names_that_exist():
    result = run("import where_time_goes as w; w.instrument()")
    assert result.returncode == 0, result.stderr[-2000:]


def test_grading_throughput_starts():
    result = run("import grading_throughput as g; g.main(['--help'])")
    assert "notebooks per minute" in result.stdout, result.stdout[-500:] + result.stderr[-2000:]
