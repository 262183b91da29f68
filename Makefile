# The setup contract: `make demo` and `make test` work on a fresh machine with Python and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of PyTorch pinned here (a bare `torch` may pull a multi-GB CUDA build);
# pyproject keeps a permissive range so GPU builds keep working for users.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck repro bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mtlreg reproduce --quick --out results/

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900

repro: $(STAMP)
	$(BIN)/python -m pytest -q --runslow -m slow
	$(BIN)/mtlreg reproduce --out results-full/

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# API reference + docs/theory.md into site/ (the docs extra is installed on first use).
docs: $(STAMP)
	$(BIN)/python -c "import mkdocs, mkdocstrings_handlers.python, material" 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) results site build dist *.egg-info src/*.egg-info
