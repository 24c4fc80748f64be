# labelflow — the two commands of the README, and a few more for developers.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test test-postgres lint bench chromium clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 est requis ($(PYTHON) introuvable)."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: install, migrate the embedded SQLite database, load demo data on first start, serve.
run: $(STAMP)
	$(BIN)/labelflow serve --demo

## test: install, then run the whole suite (SQLite; browser tests in Debian's Chromium).
test: $(STAMP) chromium
	$(BIN)/python -m pytest

## test-postgres: the same suite on PostgreSQL (LABELFLOW_TEST_DATABASE_URL or PG_URL).
test-postgres: $(STAMP) chromium
	LABELFLOW_TEST_DATABASE_URL=$${LABELFLOW_TEST_DATABASE_URL:-$(PG_URL)} $(BIN)/python -m pytest

## chromium: the browser tests need Debian's Chromium; install it when missing and possible.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installation de Chromium (tests dans le navigateur)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium (/usr/bin/chromium) est requis pour les tests dans le navigateur :"; \
	    echo "  sudo apt-get install -y chromium"; exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/project_page.py

clean:
	rm -rf $(VENV) data test-artifacts
