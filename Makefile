# Bootstraps a local tool venv with nox, then hands over to nox (which builds its own session venvs).
PYTHON ?= python3
TOOLS := .venv-tools
NOX := $(TOOLS)/bin/nox

.PHONY: demo demo-fleet test lint typecheck docs bench clean

$(NOX):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet "nox>=2024.4.15"

demo: $(NOX)  ## the main job: the demo against the embedded sandbox
	$(NOX) -s demo

demo-fleet: $(NOX)  ## three worker processes share the creditors through a throwaway PostgreSQL
	$(NOX) -s demo-fleet

test: $(NOX)  ## the whole suite: lint, typecheck, tests (docs samples, examples), the docs build, the demo
	$(NOX) -s lint typecheck tests docs demo

lint typecheck docs bench: $(NOX)
	$(NOX) -s $@

clean:
	rm -rf $(TOOLS) .nox site
