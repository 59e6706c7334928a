# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_LAB := $(VENV)/.stamp-lab
STAMP_DEV := $(VENV)/.stamp-dev

.PHONY: demo test lint typecheck bench clean lab-down test-servers

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_LAB): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[lab]'
	touch $@

$(STAMP_DEV): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(STAMP_LAB)

demo: $(STAMP_LAB)
	$(BIN)/python -m skyvault.demo

# The scale-out tests start a real Redis, PostgreSQL and RabbitMQ: install the OS packages once, only when absent.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
test-servers:
	@command -v redis-server >/dev/null 2>&1 || NEED="redis-server"; \
	{ command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || NEED="$$NEED postgresql"; \
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || NEED="$$NEED rabbitmq-server"; \
	if [ -n "$$NEED" ]; then \
		echo "installing $$NEED (the scale-out tests run a real Redis, PostgreSQL and RabbitMQ)"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$NEED >/dev/null; \
	fi

test: $(STAMP_DEV) test-servers
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 -q; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest collected no tests: failing' >&2; exit 1; fi; exit $$rc

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

bench: $(STAMP_DEV)
	@command -v restic >/dev/null 2>&1 || { \
		echo "installing restic (the peer the library benchmark compares against)"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic >/dev/null; }
	$(BIN)/python benchmarks/library_vs_restic.py

lab-down:
	-$(BIN)/skyvault lab down

clean:
	rm -rf $(VENV) .skyvault .pytest_cache .mypy_cache .ruff_cache
