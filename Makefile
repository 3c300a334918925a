# qmtl-research — run `make` (or `make help`) for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed
COMPILED   := $(VENV)/.compiled
STRATEGY   ?=
WORLD      ?=
WORKERS    ?= 2
N_FUNDS    ?=

# Values given on the command line (STRATEGY, WORLD, WORKERS, N_FUNDS, BENCH, PORT) never become shell text:
# they reach the recipes as environment variables and are read there as quoted "$$MAKE_ARG_..." words, and
# the numeric ones are checked first (`make report STRATEGY='x; touch pwned'` looks for a strategy of that
# name and fails; it runs nothing). $(value ...) keeps make from expanding a '$' inside a value.
export MAKE_ARG_STRATEGY = $(value STRATEGY)
export MAKE_ARG_WORLD    = $(value WORLD)
export MAKE_ARG_WORKERS  = $(value WORKERS)
export MAKE_ARG_N_FUNDS  = $(value N_FUNDS)
export MAKE_ARG_BENCH    = $(value BENCH)
export MAKE_ARG_PORT     = $(value PORT)
# refuse a value that is not a whole number: $(call whole_number,NAME) in a recipe line
whole_number = case "$$MAKE_ARG_$(1)" in ''|*[!0-9]*) echo "error: $(1) must be a whole number (e.g. $(1)=2)" >&2; exit 2;; esac

# project-local caches (keras, matplotlib, jupyter, ipython)
export QMTL_RESEARCH_HOME := $(CURDIR)
export KERAS_BACKEND      := jax
export KERAS_HOME         := $(CURDIR)/.cache/keras
export MPLCONFIGDIR       := $(CURDIR)/.cache/matplotlib
export JUPYTER_RUNTIME_DIR:= $(CURDIR)/.cache/jupyter/runtime
export JUPYTER_DATA_DIR   := $(CURDIR)/.cache/jupyter/data
export IPYTHONDIR         := $(CURDIR)/.cache/ipython
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export JAX_PLATFORMS      := cpu

.PHONY: help setup lab data report report-all test test-fast bench clean lock site

# kernels read IPYTHONDIR at start-up: when its parent (.cache) is missing, IPython warns "IPython parent
# ... is not a writable location" and falls back to a new temp dir, so make it before any kernel starts
$(IPYTHONDIR):
	@mkdir -p $@

help: ## list the targets
	@echo "qmtl-research"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  make %-14s %s\n", $$1, $$2}'
	@echo
	@echo "  e.g. make report STRATEGY=demo      (PDF under reports/demo/<world>/<version>/)"

setup: $(STAMP) $(COMPILED) ## create .venv from requirements.lock (idempotent; no-op when up to date)

# byte-compile the environment once: where PYTHONDONTWRITEBYTECODE is set (as on the reference
# machine) no process writes .pyc files, so every command and every notebook kernel compiled
# each imported module from source again (~2,000 modules: most of a warm `make report`)
$(COMPILED): $(STAMP)
	$(PY) -m compileall -q -j 0 $(VENV)/lib qmtl_research
	@touch $(COMPILED)

$(STAMP): requirements.lock pyproject.toml | $(IPYTHONDIR)
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name qmtl-research --display-name "Python (qmtl-research)" >/dev/null
	@# quiet kernels: only errors from the kernel process itself (cell errors still reach the notebooks)
	$(PY) -c "import json, sys, pathlib; p = pathlib.Path(sys.prefix, 'share/jupyter/kernels/qmtl-research/kernel.json'); \
	  k = json.loads(p.read_text()); f = '--IPKernelApp.log_level=ERROR'; \
	  k['argv'] += [] if f in k['argv'] else [f]; p.write_text(json.dumps(k, indent=1))"
	@touch $(STAMP)
	@echo "environment ready: $(VENV)"

lock: ## re-pin requirements.lock from the current .venv
	$(PY) -m pip freeze --exclude-editable | grep -v '^qmtl-research' > requirements.lock.new && mv requirements.lock.new requirements.lock

# make lab [PORT=8888] [BROWSER=0]: as root (containers) JupyterLab needs --allow-root; BROWSER=0 opens no browser
PORT       ?= 8888
BROWSER    ?= 1
lab: setup | $(IPYTHONDIR) ## JupyterLab with the qmtl-research kernel (PORT=8888, BROWSER=0: no browser)
	@$(call whole_number,PORT)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port="$$MAKE_ARG_PORT" \
	  $(if $(filter 0 no false,$(BROWSER)),--no-browser,) $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

data: setup ## materialise the offline real universe and the synthetic default under data/
	@set --; if [ -n "$$MAKE_ARG_N_FUNDS" ]; then $(call whole_number,N_FUNDS); set -- --n-funds "$$MAKE_ARG_N_FUNDS"; fi; \
	  $(VENV)/bin/qmtl-research data build "$$@"

report: setup | $(IPYTHONDIR) ## make report STRATEGY=demo [WORLD=w]: run notebooks, store the run, render the PDF
	@set --; [ -z "$$MAKE_ARG_STRATEGY" ] || set -- "$$@" --strategy "$$MAKE_ARG_STRATEGY"; \
	  [ -z "$$MAKE_ARG_WORLD" ] || set -- "$$@" --world "$$MAKE_ARG_WORLD"; \
	  if [ $$# -eq 0 ]; then echo "usage: make report STRATEGY=<name> [WORLD=<world>]   (try STRATEGY=demo)"; \
	    $(VENV)/bin/qmtl-research report list; exit 2; fi; \
	  $(PY) -m compileall -q qmtl_research || exit 1; \
	  echo "qmtl-research report run $$*"; $(VENV)/bin/qmtl-research report run "$$@"

report-all: setup | $(IPYTHONDIR) ## every shipped strategy in parallel (WORKERS=2)
	@$(call whole_number,WORKERS)
	$(VENV)/bin/qmtl-research report all --workers "$$MAKE_ARG_WORKERS"

site: setup ## the validation portal: bring the state view up to date (events follow --once), render reports/site
	$(VENV)/bin/qmtl-research events follow --once
	$(VENV)/bin/qmtl-research site build

# nbval with the per-cell tolerance classes of tests/nbval_tolerance.py (tests/NOTEBOOKS.md); notebooks run
# in exploration mode against an empty throwaway store, so outputs never depend on local runs
NBVAL = QMTL_STORE_URL=sqlite:///$$(mktemp -d)/nbval.sqlite $(PY) -m pytest -q -p no:cacheprovider \
  -p tests.nbval_tolerance --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env \
  --nbval-cell-timeout=600
# another numeric setting for the second nbval pass: OpenBLAS's Haswell kernels instead of this CPU's
# (it moves the GARCH fits in the 4th-5th digit), XLA limited to AVX2 without Eigen threads, one thread
OTHER_NUMERICS = OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  XLA_FLAGS="--xla_cpu_max_isa=AVX2 --xla_cpu_multi_thread_eigen=false"

# pytest over WORKERS processes (pytest-xdist; WORKERS=0: one process, no xdist); each test file runs on one
# worker (--dist loadfile), so a module-scoped fixture (a demo report run, a walk-forward) is built once;
# PostgreSQL tests use one database per worker (tests/conftest.py). (--dist loadgroup does not group under
# pytest 9 with xdist 3.8: xdist renames items through a private attribute pytest 9 no longer reads.)
test: setup | $(IPYTHONDIR) ## pytest (WORKERS=2 processes) + nbval over the committed notebooks + nbval again under other numerics
	@$(call whole_number,WORKERS)
	$(PY) -m pytest -q -p no:cacheprovider -n "$$MAKE_ARG_WORKERS" --dist loadfile --no-loadscope-reorder tests
	$(NBVAL) notebooks
	@echo "nbval again, under other numerics, over the notebooks that declare a tolerance: $(OTHER_NUMERICS)"
	$(OTHER_NUMERICS) $(NBVAL) --nbval-tolerance-only notebooks

bench: setup ## benchmarks (BENCH="spine volatility ..." to choose; QUICK=1 for small scale)
	@# BENCH is split into words with globbing off; each word is an argument, never shell text
	set -f; $(PY) -m benchmarks.run $$MAKE_ARG_BENCH $(if $(QUICK),--quick,)

clean: ## remove caches and build leftovers (keeps .venv, data/ and reports/)
	rm -rf .cache .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
