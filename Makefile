# Two commands a newcomer needs: `make run` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: trying the service must not wait for the test tools (Playwright, hadolint, granian...).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# The production image's environment: requirements.txt alone, as the Dockerfile installs it. The tests that start
# gunicorn (and export the UI) run it from here, so a runtime dependency that only the test tools bring cannot hide.
IMAGE_VENV ?= .venv-image
IMAGE_STAMP := $(IMAGE_VENV)/.installed

.PHONY: run test lint format bench bench-stream bench-ui clean install screenshots k8s-rules docs reference

install: $(STAMP)

# An existing virtualenv is kept: recreating it under a running service or a second checkout gains nothing.
# --no-compile: Python compiles what it imports on first use; the rest (most of numpy, which the embedded database
# pulls in) would be 45 MB of .pyc files nobody loads.
$(RUN_STAMP): requirements.txt requirements-run.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile -r requirements-run.txt
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

# Made anew whenever requirements.txt changes: a requirement taken out must be gone from it, as from a new image.
$(IMAGE_STAMP): requirements.txt
	rm -rf $(IMAGE_VENV)
	$(PYTHON) -m venv $(IMAGE_VENV)
	$(IMAGE_VENV)/bin/pip install --quiet --disable-pip-version-check --no-cache-dir -r requirements.txt
	touch $(IMAGE_STAMP)

## Start the service on http://127.0.0.1:5000 with the embedded database in ./data (runtime requirements only)
run: $(RUN_STAMP)
	$(BIN)/python app.py

# Test processes: each takes a test file at a time, with its own database server and browser. TEST_WORKERS=3 takes
# 9.5 minutes instead of 12.5 on two cores, but loads the machine enough that the short bench pass sees 503s from a
# slowed embedded database and timing-bound tests wait longer than they allow: two is what CI runs.
TEST_WORKERS ?= 2

## Lint, then run every test
test: lint $(IMAGE_STAMP)
	FF_IMAGE_VENV=$(IMAGE_VENV) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

## Serve the documentation site on http://127.0.0.1:8000
docs: $(STAMP)
	$(BIN)/python -m mkdocs serve

## Write the reference pages of docs/reference/ from the code (a test fails when one is stale)
reference: $(STAMP)
	$(BIN)/python -m docs.reference.generate

## Refresh the documentation's screenshots of the admin UI (the browser tests take them)
screenshots: $(STAMP)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -k "screens or both_themes"

## Write the PrometheusRule of deploy/kubernetes from deploy/prometheus/alerts.yaml (a test fails when it is stale)
k8s-rules:
	$(PYTHON) deploy/kubernetes/generate_prometheus_rule.py

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Measure the service under gunicorn and granian with wrk, beside bare Flask and nginx (needs: apt-get install wrk nginx)
## and what each stage of the request pipeline costs, in-process; then an admin's paths at 10,000 flags on the
## embedded database
bench: $(STAMP) $(IMAGE_STAMP)
	$(BIN)/python -m bench.stages
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.large_database

## Hold 10,000 OFREP event streams open under gunicorn: delivery latency, memory and descriptors per worker (needs wrk)
bench-stream: $(STAMP) $(IMAGE_STAMP)
	$(BIN)/python -m bench.stream_bench

## Benchmark the admin UI with 10,000 flags in headless Chromium: first paint, keystroke, flag page, streamed change (needs /usr/bin/chromium)
bench-ui: $(STAMP)
	$(BIN)/python -m bench.ui_bench

clean:
	rm -rf $(VENV) $(IMAGE_VENV) .pytest_cache .ruff_cache
