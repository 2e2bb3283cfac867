# Quickstart targets: `make demo`, `make test` (`make test-all` adds the Meta-World venv's tests;
# CI runs it). Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup setup-ray setup-metaworld demo test test-metaworld test-all bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench,render]'
	touch $(STAMP)

# The optional Ray extra (distributed sampling, metarl sweep): a 79 MB wheel, ~16 s to install.
RAY_STAMP := $(VENV)/.installed-ray

setup-ray: $(RAY_STAMP)

$(RAY_STAMP): $(STAMP) constraints-ray.txt
	$(BIN)/pip install --quiet -c constraints.txt -c constraints-ray.txt -e '.[ray]'
	touch $(RAY_STAMP)

# Meta-World (MuJoCo 3.3.0) lives in its own venv beside the pinned MuJoCo 4 one; see README.
MW_VENV := .venv-metaworld
MW_BIN := $(MW_VENV)/bin
MW_STAMP := $(MW_VENV)/.installed

setup-metaworld: $(MW_STAMP)

$(MW_STAMP): pyproject.toml constraints-metaworld.txt
	test -x $(MW_BIN)/python || $(PYTHON) -m venv $(MW_VENV)
	$(MW_BIN)/pip install --quiet --upgrade pip
	$(MW_BIN)/pip install --quiet -c constraints-metaworld.txt torch==2.13.0
	$(MW_BIN)/pip install --quiet -c constraints-metaworld.txt -e '.[dev,metaworld]'
	touch $(MW_STAMP)

test-metaworld: setup-metaworld
	$(MW_BIN)/python -m pytest -q tests/envs/test_metaworld.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The suite runs with the Ray extra installed, so the Ray backend and sweeps are tested too.
test: setup-ray lint
	$(BIN)/python -m pytest -q

test-all: test test-metaworld

demo: setup
	bash experiments/demo.sh

bench: setup
	bash experiments/benchmarks/run_all.sh

clean:
	rm -rf $(VENV) $(MW_VENV) runs
