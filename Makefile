# The two commands the README gives. Each sets itself up on a fresh machine (virtual environment,
# packages, assets), is idempotent, and is quick the second time (stamp files).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Qt must not pick up the Qt 5 plugins that opencv-python bundles.
unexport QT_QPA_PLATFORM_PLUGIN_PATH

.PHONY: run test assets lint bench clean-venv
.DEFAULT_GOAL := run

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet "pip>=23.2"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

## make run: start the Studio (fetches the app's assets on first use).
run: $(STAMP)
	$(BIN)/gafet assets fetch --group app
	$(BIN)/python main.py

## make test: the whole test suite, with the real photos the tests need.
test: $(STAMP)
	$(BIN)/gafet assets fetch --group all
	$(BIN)/ruff check --quiet core training gafet_studio tests benchmarks tools resources main.py
	@bash tools/ensure_gl.sh || echo "note: no Xvfb/GL packages; OpenGL tests will be skipped"
	$(BIN)/python tools/run_tests.py

assets: $(STAMP)
	$(BIN)/gafet assets fetch --group all

lint: $(STAMP)
	$(BIN)/ruff check core training gafet_studio tests benchmarks tools resources main.py

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
