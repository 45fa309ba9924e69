# Two commands do everything on a fresh Debian 12 machine (see README.md):
#   make demo   set up, then run the main job on the embedded default
#   make test   set up, then run the whole test suite
.PHONY: setup demo test lint clean

VENV := .venv
PY := $(VENV)/bin/python

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/ccta-ai demo --out demo-out

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check plugin tests
	$(VENV)/bin/mypy

clean:
	rm -rf demo-out .pytest_cache .mypy_cache .ruff_cache
