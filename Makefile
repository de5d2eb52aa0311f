# toiawase: the two commands of the README are `make serve` and `make test`.
VENV ?= .venv
PYTHON ?= python3
MODELS ?= models
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin

.PHONY: setup deps system-deps browser-deps demo-model serve test security lock bench latency load stalled reload-bench reliability

# Python environment: the pinned dependencies of requirements.lock (every file checked against its
# sha256, so a drifted or tampered package fails), then the project itself, editable (templates/
# and static/ are read from here) and without dependencies. The lock is installed again only
# when its content changed (its sha256 is kept in the venv), so a cached venv costs nothing.
setup: deps $(VENV)/.toiawase-installed
deps:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@lock=$$(sha256sum requirements.lock | cut -d' ' -f1); \
	if [ "$$(cat $(VENV)/.toiawase-lock 2>/dev/null)" != "$$lock" ]; then \
		echo "installing requirements.lock ($$lock)"; \
		$(BIN)/python -m pip install -q --require-hashes -r requirements.lock && echo "$$lock" > $(VENV)/.toiawase-lock; \
	fi
$(VENV)/.toiawase-installed: setup.cfg pyproject.toml requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

# Regenerate requirements.lock (install_requires + the `test` extra, with hashes) for this
# machine's Python (3.11, Linux), from PyPI only; then `make setup`.
lock:
	$(BIN)/python -m pip install -q 'pip-tools>=7.4'
	PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= $(BIN)/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe \
		--strip-extras --no-emit-index-url --no-emit-find-links --extra test --output-file requirements.lock setup.cfg

system-deps:
	bash scripts/install-system-deps.sh

browser-deps:
	bash scripts/install-system-deps.sh --browser

# Train the demo model on the sample tickets, only if there is no model yet.
demo-model: setup system-deps
	test -e $(MODELS)/current || $(BIN)/toiawase train --data data/sample/tickets.tsv --out $(MODELS) --quiet

serve: demo-model
	$(BIN)/toiawase serve --model $(MODELS) --host $(HOST) --port $(PORT)

test: setup security
	bash scripts/install-system-deps.sh --browser --postgres
	$(BIN)/python -m pytest -q

# Static security scan: no high-severity finding (-lll) may be left; each `# nosec` says why.
security: setup
	$(BIN)/bandit -q -r preprocessing routing feedback training webapp toiawase -lll

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

# One table: load held (Locust mix, shortened), faults survived (bad bundles, kill -9 of train,
# promote and feedback writes), bad inputs tried (Schemathesis), data lost. About 10 minutes.
reliability: demo-model
	$(BIN)/python -m pip install -q -e '.[bench]'
	bash scripts/install-system-deps.sh --postgres
	$(BIN)/python bench/reliability.py --model $(MODELS) --users 32 --duration 20
