# Quickstart targets: `make demo`, `make test`. Every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup setup-ray demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench,render]'
	touch $(STAMP)

# The optional Ray extra (distributed sampling, metarl sweep): a 79 MB wheel, ~16 s to install.
setup-ray: setup
	$(BIN)/pip install --quiet -c constraints.txt -c constraints-ray.txt -e '.[ray]'

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	$(BIN)/python -m pytest -q

demo: setup
	bash experiments/demo.sh

bench: setup
	bash experiments/benchmarks/run_all.sh

clean:
	rm -rf $(VENV) runs
