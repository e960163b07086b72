# Payor: the two commands are `make demo` and `make test`.
# uv comes from PATH, or is installed once into .tools/ from the package index.
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: help install demo serve test test-embedded lint fmt clean bench-ledger

help:
	@echo "make demo           install, migrate, seed demo data, serve web + worker on http://127.0.0.1:8000"
	@echo "make test           install and run the whole suite (DATABASE_URL or the embedded PostgreSQL)"
	@echo "make test-embedded  the database-facing tests against the embedded PostgreSQL"
	@echo "make lint           ruff + mypy"
	@echo "make fmt            format and auto-fix"
	@echo "make bench-ledger   ledger benchmark vs pgbench TPC-B on the same server (BENCH_ARGS=\"--seconds 5 ...\")"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen

demo: install
	scripts/system-packages.sh documents
	$(RUN) payor demo

serve: install
	$(RUN) payor serve

test: install
	scripts/system-packages.sh
	$(RUN) pytest $(PYTEST_ARGS)

test-embedded: install
	env -u DATABASE_URL PAYOR_DATA_DIR=$(CURDIR)/var/test-embedded $(RUN) pytest -m "database_facing or embedded" $(PYTEST_ARGS)

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	# django-stubs imports the settings; mypy needs no database, so give it an unused URL.
	PAYOR_ENV=test PAYOR_DATA_DIR=$(CURDIR)/var/lint DATABASE_URL=postgresql://lint@127.0.0.1:1/lint $(RUN) mypy payor

fmt: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean:
	rm -rf .venv .tools .pytest_cache .mypy_cache .ruff_cache

# pgbench TPC-B, then Payor's posting path, a 10k pending batch and summary reads in scratch databases on the
# server of DATABASE_URL (else the embedded one); one JSON line on stdout, then `payor ledger verify`.
bench-ledger: install
	PAYOR_ENV=$${PAYOR_ENV:-development} $(RUN) payor bench ledger $(BENCH_ARGS)
