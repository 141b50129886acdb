# The two commands a newcomer needs: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving Aspora at http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	ASPORA_WATCH_DOMAINS=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Without DATABASE_URL/REDIS_URL the suite runs on the embedded default and leaves out the tests
# marked `services` (real PostgreSQL, Redis, Celery workers); with them set, everything runs.
test: lint
	@if [ -n "$$DATABASE_URL$$REDIS_URL" ]; then \
		echo "make test: production mode against DATABASE_URL and REDIS_URL"; \
		$(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		echo "make test: embedded default (set DATABASE_URL and REDIS_URL to include the 'services' tests)"; \
		$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS); \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
