# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# cje-eval 0.3.0, the reference the CJE tests compare with, pins numpy<2.1 and pandas<3: it gets
# a virtual environment of its own and is never imported by vibescope itself.
REFERENCE_STAMP := .venv-cje/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test install browser ui app clean

install: $(STAMP)

# llama-cpp-python has no wheel for this platform: pip compiles it once (about 5-8 minutes on
# 2 cores) and keeps the built wheel in its cache for later installs.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	mkdir -p $(DAGSTER_HOME) && touch $(DAGSTER_HOME)/dagster.yaml
	touch $(STAMP)

$(REFERENCE_STAMP): requirements-cje.lock
	$(PYTHON) -m venv .venv-cje
	.venv-cje/bin/python -m pip install --quiet -r requirements-cje.lock
	touch $(REFERENCE_STAMP)

# Debian's Chromium, for the app's browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

demo: $(STAMP)
	$(BIN)/dagster asset materialize -m definitions --select '*'
	@$(BIN)/python -m resources.warehouse_cli summary

test: $(STAMP) $(REFERENCE_STAMP) browser
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

ui: $(STAMP)
	$(BIN)/dagster dev -m definitions

app: $(STAMP)
	$(BIN)/streamlit run app/Home.py --server.address 127.0.0.1

clean:
	rm -rf $(VENV) .venv-cje $(DAGSTER_HOME) data/*.duckdb data/*.sqlite* reports
