# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint services-up services-down clean

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

## Run everything: services, API, worker, listener and a simulated PBX replaying real calls.
demo: $(STAMP)
	scripts/demo.sh

## Run the whole test suite against real servers (what CI runs).
test: $(STAMP)
	scripts/test.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check callercard worker asterisk tests

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down; scripts/services.sh --profile test down

clean: services-down
	rm -rf var test-artifacts
