# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test venv test-env checkpoint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed
test-env: $(VENV)/.test-installed

# The dashboard on the embedded default (digits + the shipped checkpoint).
run: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

# The whole suite.
test: $(VENV)/.test-installed
	$(PY) -m pytest -q tests

# Re-create the shipped checkpoint (reproduces its test accuracy within 1 point).
checkpoint: $(VENV)/.installed
	$(PY) -m core train --dataset digits --model cnn_small --out checkpoints/digits_cnn_small

clean:
	rm -rf $(VENV) .pytest_cache
