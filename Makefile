# Every target bootstraps .venv itself, so a fresh clone needs nothing but python3 and java.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

# Spark's Python workers must run the venv's interpreter, not whatever python3 is on PATH.
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

.PHONY: demo test bench lint format cluster-up cluster-down clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) -e '.[demo]'
	touch $@

$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) -e '.[all]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(PY) examples/demo.py

test: $(VENV)/.installed-all
	$(PY) -m pytest -q -p no:cacheprovider tests

# The reference library for bench_vs_reference.py, in a venv of its own: sagemaker_pyspark
# 1.4.5 needs pyspark 3.3 and numpy < 2 (its JARs ship in the wheel; it runs on Java 17).
.venv-reference/.installed:
	$(PYTHON) -m venv .venv-reference
	.venv-reference/bin/python -m pip install --quiet --disable-pip-version-check \
		'sagemaker_pyspark==1.4.5' 'pyspark==3.3.0' 'numpy<2'
	touch $@

.PHONY: .venv-reference
.venv-reference: .venv-reference/.installed

bench: $(VENV)/.installed-all .venv-reference/.installed
	$(PY) benchmarks/run_all.py

lint: $(VENV)/.installed-all
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-all
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

cluster-up: $(VENV)/.installed-all
	$(PY) scripts/spark_cluster.py up

cluster-down:
	$(PY) scripts/spark_cluster.py down

clean:
	rm -rf build .pytest_cache .ruff_cache
