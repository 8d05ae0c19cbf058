# Two commands do all set-up: `make demo` and `make test`. Each creates or refreshes .venv/ first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch is pinned for this machine kind: a CPU wheel of 2.13.0 is provided to pip locally, while a looser
# pin would pull the newest CUDA build (gigabytes). Users elsewhere get a normal `pip install goesvfi-lab`.
TORCH  ?= torch==2.13.0
EXTRAS ?= test,lab,rife
STAMP  := $(VENV)/.installed

.PHONY: venv browser tools demo lint format test test-fast lab bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: venv
	$(PY) -m goesvfi_lab.demo

# Debian chromium for the real-JupyterLab test (no Playwright browser download). Without it the browser test
# skips locally and fails under CI (CI=true), so a missing browser can never pass silently.
browser:
	./.ci/install-browser.sh || echo "chromium not installed: the browser test will be skipped (it fails when CI is set)"

# ruff's settings are in pyproject.toml; `make format` applies what `make lint` checks.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# ncgen (Debian netcdf-bin) builds the real-structure NetCDF fixtures from ../shared/goes/ headers. Without it
# those tests skip locally and fail under CI, like the browser test.
tools:
	./.ci/install-netcdf-bin.sh || echo "ncgen not installed: the real-structure tests will be skipped (they fail when CI is set)"

test: venv browser tools lint
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: venv
	$(PY) benchmarks/quality.py
	$(PY) benchmarks/speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
