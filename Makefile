# toiawase: the two commands of the README are `make serve` and `make test`.
VENV ?= .venv
PYTHON ?= python3
MODELS ?= models
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin

.PHONY: setup system-deps browser-deps demo-model serve test bench latency load stalled reload-bench

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

# Serving under load (not run in CI; bench/loadtest needs the `bench` extra: Locust).
# A crowd of agents: 32 Locust users for 60 s (the mix in bench/loadtest/locustfile.py), then
# 20 s of single questions only, and the in-process fast path for comparison.
load: demo-model
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/loadtest/run.py --model $(MODELS) --users 32 --duration 60 --single-only 20

# /healthz with 64 connections that never finish their headers.
stalled: demo-model
	$(BIN)/python bench/stalled.py --model $(MODELS) --stalled 64

# 32 clients for 30 s while models/current is flipped 5 times, once to a broken bundle.
reload-bench: demo-model
	$(BIN)/python bench/reload_under_load.py --model $(MODELS) --clients 32 --duration 30 --flips 5
