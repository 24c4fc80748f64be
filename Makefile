# labelflow — the two commands of the README, and a few more for developers.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint bench system-deps clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 est requis ($(PYTHON) introuvable)."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: install, migrate the embedded SQLite database, load demo data on first start, serve.
run: $(STAMP)
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="$(PDF_PACKAGES)"
	$(BIN)/labelflow serve --demo

## test: install, then run the whole suite (SQLite; browser tests in Debian's Chromium).
test: $(STAMP) system-deps
	$(BIN)/python -m pytest

## test-postgres: the same suite on PostgreSQL (LABELFLOW_TEST_DATABASE_URL or PG_URL).
test-postgres: $(STAMP) system-deps
	LABELFLOW_TEST_DATABASE_URL=$${LABELFLOW_TEST_DATABASE_URL:-$(PG_URL)} $(BIN)/python -m pytest

PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
SYSTEM_PACKAGES ?= chromium $(PDF_PACKAGES) clamav-daemon postgresql-client

## system-deps: Debian's Chromium (browser tests) and Pango/HarfBuzz/DejaVu (PDF letters);
## installed when missing and possible (root with apt-get).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installation des paquets système :$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Paquets système requis :$$missing"; \
	    echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## bench: the served benchmark (installs Debian's wrk when missing), the figures' bench, the e-mail bench, the 500 MB upload bench.
bench: $(STAMP)
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="wrk"
	$(BIN)/python bench/served.py
	$(BIN)/python bench/stats.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/documents.py

clean:
	rm -rf $(VENV) data test-artifacts
