# randgym: `make demo` runs the main job (scripts/evolve.py), `make play` the env tour,
# `make test` the test suite, `make bench` the speed benchmarks.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo play test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -e ".[test,sb3,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/evolve.py

play: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q --durations=15

bench: $(STAMP)
	$(PY) -m benchmarks.vector_env
	$(PY) -m benchmarks.rollout
	$(PY) -m benchmarks.train_step

clean:
	rm -rf $(VENV) .pytest_cache
