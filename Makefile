# engramlab — the two commands a user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# torch is pinned here to the CPU build available on this machine; the package
# metadata keeps a range (torch>=2.2).
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow test-browser lint bench install clean robustness

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,ml,nwb,hf,reference]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/engramlab run protocols/liu2012_reactivation.yaml

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q --ignore=tests/browser

test-slow: $(STAMP)
	$(PY) -m pytest -m slow -q

# Opens `engramlab report` pages in headless Chromium; fails if any image does not load.
test-browser: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
		{ echo "installing chromium"; sudo -n true 2>/dev/null && SUDO=sudo; \
		  $${SUDO:-} apt-get update -qq && $${SUDO:-} apt-get install -y -qq chromium; }
	ENGRAMLAB_BROWSER_TESTS=1 $(PY) -m pytest tests/browser -q

# The robustness report (docs/robustness.md): every bundled study over a sampled grid of
# perturbations on the sweep engine. STUDIES="a b" runs a subset (the docs are then left
# alone), VARIANTS=N changes the sampled points per study, WORKERS=N the local Dask workers,
# ROBUSTNESS_SET="KEY=VALUE …" a --set base for every variant (the docs are then left alone).
ROBUSTNESS_OUT ?= data/runs/robustness
WORKERS ?= 2
robustness: $(STAMP)
	$(VENV)/bin/engramlab robustness $(STUDIES) --out $(ROBUSTNESS_OUT) --workers $(WORKERS) \
		$(if $(VARIANTS),--variants $(VARIANTS)) $(foreach s,$(ROBUSTNESS_SET),--set $(s))
	$(if $(STUDIES)$(ROBUSTNESS_SET),,cp $(ROBUSTNESS_OUT)/robustness.json docs/robustness_results.json)
	$(if $(STUDIES)$(ROBUSTNESS_SET),,$(PY) docs/_gen_robustness_table.py)

lint: $(STAMP)
	$(VENV)/bin/ruff check engramlab tests benchmarks
	$(VENV)/bin/ruff format --check engramlab tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) data/runs .pytest_cache
