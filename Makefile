# Two commands on a fresh machine with Python 3.11 and Java 17:
#   make demo   runs examples/quickstart.py (an ablation study on a local Spark session)
#   make test   runs ruff, the import contracts, mypy and the whole test suite
# Both create .venv on first use and reinstall only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Spark's Python workers run the same interpreter as the driver.
export PYSPARK_PYTHON ?= $(abspath $(BIN)/python)
export PYSPARK_DRIVER_PYTHON ?= $(abspath $(BIN)/python)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-fast lint typecheck jvm-archive pytest submit-demo bench chaos docs lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,examples,bench,jax]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/quickstart.py

# The same study, submitted the way a cluster user would run it.
submit-demo: $(STAMP)
	$(BIN)/spark-submit --master "local[2]" examples/quickstart.py

# The checks and the tests' class-data archive at once (mypy keeps one core busy), then the tests.
test:
	@$(MAKE) --no-print-directory -j 3 --output-sync=target lint typecheck jvm-archive
	@$(MAKE) --no-print-directory pytest

# The same without the tests marked slow (long fault injection, stress): for quick iterations.
test-fast: lint typecheck
	$(MAKE) pytest PYTEST_ARGS='-m "not slow" $(PYTEST_ARGS)'

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# The archive of Spark's classes that the tests' JVMs map instead of loading them (tests/jvm.py):
# dumped once per installation into .pytest_cache/jvm, about 40 s; the tests dump it if missing.
jvm-archive: $(STAMP)
	$(BIN)/python -m tests.jvm

# Two test processes (pytest-xdist), each module whole in one of them and the longest modules
# first (tests/conftest.py orders them; xdist would put the modules with most tests first): a
# test that waits on a JVM, a heartbeat or a killed worker leaves its core to the other's.
# PYTEST_WORKERS=0 runs the suite in this process alone.
PYTEST_WORKERS ?= 2

pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Benchmarks 1-9 and the tracing cost (bench/*.py), side by side in one run each; tables
# printed, JSON and plots in bench/results/. About an hour on a 2-core machine (each timing
# benchmark runs 3 times; real_work.py, both sizes, about 30 minutes; statistics.py simulates
# 2,000 studies a check, about a minute).
bench: $(STAMP)
	cd bench && ../$(BIN)/python statistics.py
	cd bench && ../$(BIN)/python dispatch.py
	cd bench && ../$(BIN)/python scheduling.py
	cd bench && ../$(BIN)/python scaling.py
	cd bench && ../$(BIN)/python overhead.py
	cd bench && ../$(BIN)/python backends.py
	cd bench && ../$(BIN)/python real_work.py
	cd bench && ../$(BIN)/python tracing.py
	cd bench && ../$(BIN)/python plot.py

# The chaos harness (bench/chaos.py): one study under seeded storms of real faults on local
# Spark and on a standalone cluster on 127.0.0.1, more than 1,000 faults in all, compared with
# a calm run. About an hour on a 2-core machine; ends with the line
#   chaos: faults=N lost=L duplicated=D identical=yes|no
chaos: $(STAMP)
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

# The documentation site, into site/ (the tests build it too, in strict mode).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

# Refresh the exact pins after changing a range in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --exclude pip > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache autoablation-runs site
