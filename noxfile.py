"""The Django x Python matrix: `make matrix` (or `nox`), one session per supported pair.

Each session installs the pair's Django, this checkout and the test tools into its own
venv under .nox/, and runs the whole suite. Interpreters are found on PATH or under pyenv;
a pair whose interpreter this machine lacks is skipped with its reason, and nox's summary
lists every pair's result. Django 6.x needs Python >= 3.12, so 3.11 runs 5.2 only.
"""

from __future__ import annotations

import glob
import os

import nox

PAIRS = [
    ("5.2", "3.11"),
    ("5.2", "3.12"),
    ("5.2", "3.13"),
    ("6.0", "3.12"),
    ("6.0", "3.13"),
    ("6.1", "3.12"),
    ("6.1", "3.13"),
]
# No django-prometheus release allows Django 6.1 yet: installed without its dependencies.
NO_DEPS = {"6.1": ["django-prometheus==2.5.0"]}

nox.options.error_on_missing_interpreters = False  # skipped, with nox's reason
nox.options.reuse_existing_virtualenvs = True


def interpreter(version: str) -> str:
    """pyenv's interpreter where there is one (its shims may not run another version)."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else f"python{version}"


@nox.session(name="tests")
@nox.parametrize(
    ("django", "python"),
    [
        nox.param(django, interpreter(python), id=f"django{django}-py{python}")
        for django, python in PAIRS
    ],
)
def tests(session: nox.Session, django: str, python: str) -> None:
    session.install(
        f"Django=={django}.*",
        "channels==4.3.2",
        "daphne==4.2.3",
        "uvicorn[standard]==0.54.0",
        "channels-redis==4.3.0",
        "psycopg[binary]==3.3.9",
        "-e",
        ".",
        "-r",
        "requirements-tools.txt",
    )
    session.install("--no-deps", *NO_DEPS.get(django, ["django-prometheus==2.5.0"]))
    session.run("python", "-m", "tests.run_suite", *session.posargs)
