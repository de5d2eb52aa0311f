# toiawase: the two commands of the README are `make serve` and `make test`.
VENV ?= .venv
PYTHON ?= python3
MODELS ?= models
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin

.PHONY: setup system-deps browser-deps demo-model serve test bench latency

# Python environment: the project and its test extras, editable (templates/ and static/ are read from here).
setup: $(VENV)/.toiawase-installed
$(VENV)/.toiawase-installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

browser-deps:
	bash scripts/install-system-deps.sh --browser

# Train the demo model on the sample tickets, only if there is no model yet.
demo-model: setup system-deps
	test -e $(MODELS)/current || $(BIN)/toiawase train --data data/sample/tickets.tsv --out $(MODELS) --quiet

serve: demo-model
	$(BIN)/toiawase serve --model $(MODELS) --host $(HOST) --port $(PORT)

test: setup
	bash scripts/install-system-deps.sh --browser --postgres
	$(BIN)/python -m pytest -q

# Benchmarks (not run in CI): quality and speed against the baselines on ../shared/data
# (see BENCHMARKS.md), and the served app's latency.
DATA_ROOT ?= ../shared/data
bench: setup system-deps
	$(BIN)/python bench/benchmark.py --data-root $(DATA_ROOT) --update BENCHMARKS.md

latency: demo-model
	$(BIN)/python bench/latency.py --model $(MODELS)
