# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

CHROMIUM ?= /usr/bin/chromium

.PHONY: run dev test venv test-env browser postgres checkpoint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-test.txt
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-bench.txt -c requirements.txt
	touch $@

venv: $(VENV)/.installed
test-env: $(VENV)/.test-installed

# The dashboard on the embedded default (digits + the shipped checkpoint), with settings fit for several
# users (.streamlit/config.toml). DEEPCLEAN_PASSWORD=... (or DEEPCLEAN_PASSWORD_FILE=...) make run protects it:
# app.py puts the login in front of every request.
run: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

# The same for a developer: pages reload when their source changes.
dev: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true \
	  --server.fileWatcherType auto --server.runOnSave true

# Debian's Chromium for the end-to-end browser test (Playwright drives it; it cannot download browsers here).
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Debian's PostgreSQL for the run-store tests on a server database (each test run starts a throwaway
# cluster in a temporary folder; nothing is left running).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
	  echo "installing Debian's postgresql for the run-store tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# The whole suite, the browser and PostgreSQL tests included (they fail rather than skip when Chromium or
# PostgreSQL is missing).
test: $(VENV)/.test-installed browser postgres
	DEEPCLEAN_REQUIRE_BROWSER=1 DEEPCLEAN_REQUIRE_POSTGRES=1 $(PY) -m pytest -q tests

# The Fisher benchmarks (bench/RESULTS.md): against plain passes, then against BackPACK, opacus, nngeometry,
# torch.func and the one-sample loop. `make bench QUICK=1` runs the peers' short form (under 5 minutes).
QUICK_MODELS := cnn_small,vit_mini
bench: $(VENV)/.bench-installed
	$(PY) bench/fisher.py $(if $(QUICK),--models $(QUICK_MODELS))
	$(PY) bench/fisher_peers.py $(if $(QUICK),--quick)

# Re-create the shipped checkpoint (reproduces its test accuracy within 1 point).
checkpoint: $(VENV)/.installed
	$(PY) -m core train --dataset digits --model cnn_small --out checkpoints/digits_cnn_small

clean:
	rm -rf $(VENV) .pytest_cache
