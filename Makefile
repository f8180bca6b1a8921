# The two commands: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv if missing, install CPU torch first (override with TORCH_SPEC), then the package; `make test`
# adds the dev, deploy, serve and serve-test extras (pytest, ruff, ONNX, FastAPI, Selenium), which the demo does not
# need.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet
BASE := $(VENV)/.handpose-base
STAMP := $(VENV)/.handpose-installed

.PHONY: demo test setup lint clean teacher

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BASE): $(BIN)/python pyproject.toml
	$(PIP) $(TORCH_SPEC)
	$(PIP) -e .
	touch $(BASE)

$(STAMP): $(BASE) pyproject.toml
	$(PIP) -e ".[dev,deploy,serve,serve-test]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(BASE)
	$(BIN)/handpose demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The teacher model for labelling real photos (handpose data teacher-label): MediaPipe Hands in its own venv,
# since it pins numpy < 2. handpose itself never needs it; the labels it made are committed.
TEACHER_VENV ?= .venv-teacher
MEDIAPIPE_SPEC ?= mediapipe==0.10.21

teacher: $(TEACHER_VENV)/.installed

$(TEACHER_VENV)/.installed:
	$(PYTHON) -m venv $(TEACHER_VENV)
	$(TEACHER_VENV)/bin/python -m pip install --quiet $(MEDIAPIPE_SPEC)
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(TEACHER_VENV) build *.egg-info src/*.egg-info
