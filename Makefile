# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

WIDGET := callercard/widget
WIDGET_JS := $(WIDGET)/dist/callercard.js

.PHONY: demo test lint services-up services-down clean widget lock

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

## The embeddable widget, built from its committed sources and lockfile (npm registry).
$(WIDGET_JS): $(WIDGET)/package.json $(WIDGET)/package-lock.json $(wildcard $(WIDGET)/src/*.js)
	@command -v npm >/dev/null || { echo "npm is required to build the widget"; exit 1; }
	cd $(WIDGET) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

widget: $(WIDGET_JS)

## Run everything: services, API, worker, listener and a simulated PBX replaying real calls.
demo: $(STAMP) $(WIDGET_JS)
	scripts/demo.sh

## Run the whole test suite against real servers and a real browser (what CI runs).
test: $(STAMP) $(WIDGET_JS)
	scripts/test.sh

## The Docker image's exact dependency set, with hashes, from pyproject.toml's ranges (commit the result).
## setuptools is locked too: the image builds the project with it, without build isolation.
lock: $(STAMP)
	$(PY) -m pip install -q uv
	printf 'setuptools>=69\n' | $(VENV)/bin/uv pip compile pyproject.toml - --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_36 --generate-hashes --quiet --custom-compile-command "make lock" \
	  -o requirements.lock

lint: $(STAMP)
	$(VENV)/bin/ruff check callercard worker asterisk crm amisim tests bench tools
	$(VENV)/bin/mypy

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down; scripts/services.sh --profile test down; scripts/postgres.sh --profile test down

clean: services-down
	rm -rf var test-artifacts $(WIDGET)/dist $(WIDGET)/node_modules
