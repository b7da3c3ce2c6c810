# The two commands of the README. Both make their own virtualenv in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-lowest test-newest matrix bench check

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
	$(BIN)/python -m tests.run_suite

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
	$(LOWEST)/bin/python -m tests.run_suite

# The suite again on the newest versions pyproject.toml claims (Django 6.1 on Python 3.13),
# in a venv of its own. django-prometheus has no release that allows Django 6.1 yet: it is
# installed without its dependencies (its code runs on 6.1; see the README's versions table).
NEWEST := .venv-newest
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON_NEWEST ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.13*/bin/python3) \
	$(shell command -v python3.13 2>/dev/null))
test-newest:
	@test -n "$(PYTHON_NEWEST)" || { echo "test-newest: no Python 3.13 found (pyenv or PATH); set PYTHON_NEWEST" >&2; exit 1; }
	test -x $(NEWEST)/bin/python || $(PYTHON_NEWEST) -m venv $(NEWEST)
	$(NEWEST)/bin/pip install --quiet -r requirements-newest.txt -e . -r requirements-tools.txt
	$(NEWEST)/bin/pip install --quiet --no-deps django-prometheus==2.5.0
	$(NEWEST)/bin/python -m tests.run_suite

# Every Django x Python pair this machine has an interpreter for (noxfile.py), each in its
# own venv under .nox/; a pair whose interpreter is missing is skipped with its reason.
matrix: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/nox

bench: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python -m benchmarks.run
