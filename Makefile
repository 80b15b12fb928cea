# Quick start: `make run` (one monitoring pass) and `make test`. Both build their own .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# One monitoring pass over sources.yaml into archive/, then the feeds and the history site in
# public/. They are written even when the pass failed (the exit status of the pass is kept).
run: $(VENV)/.installed
	$(BIN)/clausewatch track; status=$$?; \
	$(BIN)/clausewatch feeds && $(BIN)/clausewatch site build && exit $$status

# The site tests drive a headless Chromium: Debian's `chromium` where it is installed (.ci/run
# installs it), else Playwright's own build, downloaded once.
$(VENV)/.browser: $(VENV)/.installed-test
	command -v chromium >/dev/null 2>&1 || $(BIN)/playwright install chromium
	touch $@

test: $(VENV)/.installed-test $(VENV)/.browser
	$(BIN)/python -m pytest -q

# Benchmarks print their figures; none is a pass/fail test. They read ../shared/corpus.
bench: $(VENV)/.installed-test
	$(BIN)/python bench/corpus_checks.py
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/diff.py
	$(BIN)/python bench/flagging.py
	$(BIN)/python bench/pass.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
