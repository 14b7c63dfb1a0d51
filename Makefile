# feedmon — everything a user or CI needs is a target here; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.feedmon-installed
# `?=`: a caller's AIRFLOW_HOME (a test, a second instance) wins over the default.
export AIRFLOW_HOME ?= $(CURDIR)/airflow_home
export FEEDMON_DATA_DIR ?= $(CURDIR)/data
export PATH := $(CURDIR)/$(BIN):$(PATH)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup lock run demo test lint fmt unit integration feedparser-tests e2e browser browser-deps screenshot test-distributed eval bench bench-quick bench-product bench-product-quick bench-fetch bench-clean bench-dedup bench-tag bench-parse clean

help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z0-9-]+:.*## /{printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock requirements-dev.lock tools/bootstrap.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r tools/bootstrap.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes -r requirements.lock -r requirements-dev.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP) ## Create .venv from the hashed locks, runtime and dev (only reinstalls when a lock changes)

lock: $(STAMP) ## Re-resolve pyproject.toml: requirements.lock (runtime) and requirements-dev.lock (needs the package registry)
	$(BIN)/uv pip compile pyproject.toml --extra distributed --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile --group pyproject.toml:dev -c requirements.lock --generate-hashes --python-version 3.11 -o requirements-dev.lock

run: setup ## Start Airflow (standalone, SQLite) on http://localhost:8080 (AIRFLOW__API__PORT) with feedmon's DAGs unpaused
	bash tools/run_airflow.sh

demo: setup ## Offline: serve the bundled sample feeds locally, run one full cycle, print a summary
	$(BIN)/feedmon demo --data-dir $(CURDIR)/data/demo

lint: setup ## ruff (incl. Airflow AIR rules, Airflow imports only in the adapters), format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

browser-deps: ## Install Debian's chromium + chromium-driver for the browser test (if missing)
	bash tools/install_chromium.sh

test: setup lint browser-deps ## Set-up, lint and every test (unit, integration, DAG policy and end-to-end, browser)
	$(BIN)/pytest $(PYTEST_ARGS)

screenshot: setup browser-deps ## Refresh docs/img/feed_monitor.png from the real browser test
	FEEDMON_UPDATE_SCREENSHOT=1 $(BIN)/pytest -m browser tests/browser

unit: setup ## Fast offline unit tests: no sockets, no subprocesses (under 20 s)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: setup ## Real local servers, files, timeouts: fetching, pipeline, webhooks, S3 on moto, compose file
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

feedparser-tests: setup ## Fetch feedparser's sdist (hash-pinned) into .cache/ for the differential parse test
	$(BIN)/python tools/fetch_feedparser_tests.py

e2e: setup ## Airflow: DAG policy, real DAG runs, the plugin behind a real api-server's auth
	$(BIN)/pytest tests/dags tests/e2e $(PYTEST_ARGS)

browser: setup browser-deps ## The Feed monitor in headless Chromium inside a real api-server
	$(BIN)/pytest tests/browser $(PYTEST_ARGS)

test-distributed: setup ## CeleryExecutor + PostgreSQL + Redis: trigger feedmon_ingest over REST, read the snapshot
	bash scripts/test_distributed.sh

eval: setup ## Quality evaluations: dedup (real copies: dev and blind; synthetic), tagging weights up to date, tagging; fails if a target is missed
	$(BIN)/python eval/tagging/train_weights.py --check --quiet
	$(BIN)/python eval/dedup/run_eval.py; status=$$?; $(BIN)/python eval/tagging/run_eval.py && exit $$status

bench: setup ## Product benchmark (feedmon run + DAG vs baselines, 10-35 min), then the component benchmarks
	nice $(BIN)/python bench/bench_product.py --scale
	nice $(BIN)/python bench/bench_fetch.py
	nice $(BIN)/python bench/bench_clean.py
	nice $(BIN)/python bench/bench_dedup.py
	nice $(BIN)/python bench/bench_tag.py

bench-product: setup ## Product path: `feedmon run` and one DAG run end to end vs two baselines (S1-S3, 10-35 min)
	nice $(BIN)/python bench/bench_product.py --scale

bench-product-quick: setup ## Product path, small sets (< 2 min); writes bench/results/product-quick.json
	nice $(BIN)/python bench/bench_product.py --quick

bench-fetch: setup ## Component benchmark: fetch: 1,000 feeds with 100 ms latency vs a sequential requests+feedparser loop
	nice $(BIN)/python bench/bench_fetch.py

bench-clean: setup ## Component benchmark: cleaning throughput on AG-derived articles
	nice $(BIN)/python bench/bench_clean.py

bench-dedup: setup ## Component benchmark: clean+dedup at 100k and 1M articles vs datasketch MinHashLSH and trafilatura Simhash
	nice $(BIN)/python bench/bench_dedup.py

bench-parse: setup ## Component benchmark: Feed parsing: the lxml fast path vs feedparser (entries/s, MB/s)
	nice $(BIN)/python bench/bench_parse.py

bench-tag: setup ## Component benchmark: Language detection + tagging (10 languages, real-feed mix, 300k articles) vs a naive per-key regex loop
	nice $(BIN)/python bench/bench_tag.py

bench-quick: setup ## Smaller benchmark variants (about a minute or two each)
	nice $(BIN)/python bench/bench_product.py --quick
	nice $(BIN)/python bench/bench_fetch.py --quick
	nice $(BIN)/python bench/bench_clean.py --quick
	nice $(BIN)/python bench/bench_dedup.py --quick
	nice $(BIN)/python bench/bench_tag.py --quick

clean: ## Remove the venv, Airflow home and outputs
	rm -rf $(VENV) airflow_home data artifacts .pytest_cache .ruff_cache
