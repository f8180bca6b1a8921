# The two commands: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv if missing, install CPU torch first (override with TORCH_SPEC), then the package; `make test`
# adds the dev and deploy extras (pytest, ruff, ONNX), which the demo does not need.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet
BASE := $(VENV)/.handpose-base
STAMP := $(VENV)/.handpose-installed

.PHONY: demo test setup lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BASE): $(BIN)/python pyproject.toml
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e .
	touch $(BASE)

$(STAMP): $(BASE) pyproject.toml
	$(PIP) -e ".[dev,deploy]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(BASE)
	$(BIN)/handpose demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
