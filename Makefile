# The two commands of the README. Both make their own virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-lowest bench check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Run the demo site under daphne on an embedded SQLite database.
run: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -e .
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/daphne -b 127.0.0.1 -p 8000 project.asgi:application

# Install what the tests need and run them all (DATABASE_URL, or an embedded PostgreSQL).
test: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/python -m pytest

# Static checks: ruff, ruff format, mypy strict (run by CI before the tests).
check: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite again on the lowest versions pyproject.toml claims, in a venv of its own.
LOWEST := .venv-lowest
test-lowest:
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/pip install --quiet -r requirements-lowest.txt -e . -r requirements-tools.txt
	$(LOWEST)/bin/python -m pytest

bench: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python -m benchmarks.run
