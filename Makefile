# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# cje-eval 0.3.0, the off-policy reference the CJE tests compare with, pins numpy<2.1 and pandas<3:
# it gets a virtual environment of its own and is never imported by vibescope itself; so does
# cje-eval 0.9.3, the reference for the direct mode and its audits (0.4 on dropped IPS and DR).
REFERENCE_STAMP := .venv-cje/.installed .venv-cje09/.installed
# llama-cpp-python has no wheel for this platform, so it is compiled from source (about 4 minutes
# on 2 cores). Never with native CPU flags: pip's default `-march=native` build takes ggml's AMX
# path on Intel VMs whose CPUID reports AMX while the kernel does not grant it, and dies with
# SIGSEGV at the first tile instruction. LLAMA_CMAKE_ARGS is an explicit x86-64-v3 set (AVX2, FMA,
# F16C); for a GPU or another CPU, set it in local.mk (not tracked), so that every later `make`
# keeps it:   LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_CUDA=ON
# The wheel is built once into a folder named after a hash of the flags and the version, with
# pip's cache bypassed (that cache is keyed by the sdist, not by CMAKE_ARGS), so a change of
# flags builds anew and a natively built wheel cached by pip is never picked up.
LLAMA_CPP_VERSION := 0.3.36
LOCAL_MK ?= local.mk
-include $(LOCAL_MK)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF
LLAMA_BUILD_ID := $(LLAMA_CPP_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
LLAMA_WHEELS := .wheels/llama-cpp-python-$(LLAMA_BUILD_ID)
LLAMA_WHEEL_STAMP := $(LLAMA_WHEELS)/.built
# The stamp names the llama.cpp build, so changing LLAMA_CMAKE_ARGS reinstalls it.
STAMP := $(VENV)/.installed-$(LLAMA_BUILD_ID)
export DAGSTER_HOME := $(CURDIR)/.dagster_home
INSTANCE := $(DAGSTER_HOME)/dagster.yaml
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-vllm test-gpu install browser postgres ui app clean llama-flags

install: $(STAMP) $(INSTANCE)

# the flags and build id llama-cpp-python is (or would be) built with
llama-flags:
	@echo "$(LLAMA_BUILD_ID): $(LLAMA_CMAKE_ARGS)"

$(LLAMA_WHEEL_STAMP):
	@echo "building llama-cpp-python $(LLAMA_CPP_VERSION) with: $(LLAMA_CMAKE_ARGS)"
	rm -rf $(LLAMA_WHEELS) && mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PYTHON) -m pip wheel \
	  --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python -w $(LLAMA_WHEELS) \
	  llama-cpp-python==$(LLAMA_CPP_VERSION)
	printf '%s\n' '$(LLAMA_CMAKE_ARGS)' > $(LLAMA_WHEELS)/cmake_args.txt
	touch $@

$(STAMP): pyproject.toml requirements.lock $(LLAMA_WHEEL_STAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir --force-reinstall --no-deps $(LLAMA_WHEELS)/*.whl
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	cp $(LLAMA_WHEELS)/cmake_args.txt $(VENV)/llama_cpp_cmake_args.txt
	rm -f $(VENV)/.installed*
	touch $(STAMP)

# The project's Dagster instance (concurrency pools): edit dagster_instance.yaml, not the copy.
$(INSTANCE): dagster_instance.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster_instance.yaml $@

.venv-cje/.installed: requirements-cje.lock
	$(PYTHON) -m venv .venv-cje
	.venv-cje/bin/python -m pip install --quiet -r requirements-cje.lock
	touch $@

.venv-cje09/.installed: requirements-cje09.lock
	$(PYTHON) -m venv .venv-cje09
	.venv-cje09/bin/python -m pip install --quiet -r requirements-cje09.lock
	touch $@

# FastChat, the reference of bench/ratings_scale.py: fschat 0.2.36 (the newest release) pins
# nothing and its elo_analysis module imports torch and transformers, so it gets a virtual
# environment of its own, as cje-eval does; the bench's only user, never imported by vibescope.
.venv-fschat/.installed: bench/requirements-fschat.lock
	$(PYTHON) -m venv .venv-fschat
	.venv-fschat/bin/python -m pip install --quiet --no-deps fschat==0.2.36
	.venv-fschat/bin/python -m pip install --quiet -r bench/requirements-fschat.lock
	touch $@

# Debian's Chromium, for the app's browser tests (Playwright drives it; it downloads no browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests"; fi; }

# Materializes every asset with `dg launch`, then prints where the time went (a row per step) and
# the tables written; exits non-zero, naming each failed step, if one failed.
demo: $(STAMP) $(INSTANCE)
	$(BIN)/python -m vibescope demo

# Debian's PostgreSQL, the DuckLake catalog of the shared-warehouse test (the test starts its own
# server on 127.0.0.1 in a temporary folder; the package's own cluster is not used).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql missing: run 'sudo apt-get install postgresql' for the shared-warehouse test"; fi; }

test: $(STAMP) $(REFERENCE_STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

# The vllm backend's contract with the pinned vLLM, in a venv of its own (vLLM and its CUDA stack are
# about 6 GB; not part of `make test`). PyPI's torchvision, torchaudio and torchcodec are built for
# CUDA torch: on a CPU torch their libraries do not load, and transformers imports them when present,
# so the CPU contract venv goes without them (no text model needs them).
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed: $(LLAMA_WHEEL_STAMP) pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet $(LLAMA_WHEELS)/*.whl -e '.[vllm,dev]'
	@if ! $(VLLM_VENV)/bin/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then \
		$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec; fi
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m pytest -q -rs tests/vllm_contract

# the backend on a real engine: a CUDA device and VIBESCOPE_VLLM_MODEL (HF id or path), else skipped
test-gpu: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m pytest -q -rs tests/vllm_contract tests/gpu

ui: $(STAMP) $(INSTANCE)
	$(BIN)/dagster dev -m definitions

app: $(STAMP)
	$(BIN)/streamlit run app/Home.py

clean:
	rm -rf $(VENV) .venv-cje .venv-cje09 .venv-fschat $(VLLM_VENV) $(DAGSTER_HOME) data/*.duckdb data/*.sqlite* reports
