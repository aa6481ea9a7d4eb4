# One obvious command for each job. Run `make help` for the list.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
# nbgrader shells out to `alembic`: the environment's bin/ must be on PATH for every command below.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup system-packages grade test build lab formgrader clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(VENV)/.installed  ## create the virtual environment (.venv) if it is missing

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

system-packages:  ## Debian packages the sandbox, browser and PostgreSQL tests use (needs root)
	bash .ci/system-packages

grade: setup  ## main job: regenerate release/, grade the example class, write grades, feedback and report
	$(PY) -m autograder.grade

test: setup  ## the test suite (what CI runs)
	$(PY) -m pytest

build: setup  ## regenerate every derived file: release/, solutions/, notebooks/*.ipynb
	$(PY) -m autograder.build

lab: setup  ## JupyterLab with nbgrader's extensions on a scratch copy of the student notebooks
	$(PY) -m autograder.build sources release
	mkdir -p build/student && cp -rn release/transformer_block build/student/
	cp release/transformer_block/nbgrader_config.py build/student/transformer_block/
	# Started in the assignment's folder, as a student does: Validate reads the nbgrader_config.py there.
	cd build/student/transformer_block && jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

formgrader: setup  ## JupyterLab at the course root for instructors: Formgrader, manual grading, the sources
	$(PY) -m autograder.build sources release
	jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --ServerApp.default_url=/formgrader

clean:  ## remove the example course, nbgrader's working folders and built sources (not .venv)
	rm -rf example_course submitted autograded feedback reports build gradebook.db grades.csv source/*/*.ipynb
