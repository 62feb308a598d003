# Every target sets up .venv itself; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ROBOT_PATH := --pythonpath libraries
TARGET ?= sim
export PYTHONPATH := $(CURDIR)/libraries
export ROBOT_OPTIONS

.PHONY: all venv test lint unit robot-libraries docs run benchmark clean

all: test

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

## test: lint, unit and integration tests, keyword-library acceptance tests, libdoc
test: lint unit robot-libraries docs
	@echo "make test: all green"

lint: $(STAMP)
	$(BIN)/ruff check libraries tests benchmarks
	$(BIN)/ruff format --check libraries tests benchmarks
	$(BIN)/robocop check tests/robot suites resources
	$(BIN)/robocop format --check tests/robot suites resources
	$(BIN)/robot $(ROBOT_PATH) --dryrun --output NONE --log NONE --report NONE --console dotted -v TARGET:sim suites

## unit: pytest, two workers: unit, integration, simulated node, and the suites on it (every topology, policy, fault)
unit: $(STAMP)
	$(BIN)/pytest -q -n 2 tests

robot-libraries: $(STAMP)
	$(BIN)/robot $(ROBOT_PATH) --outputdir results/libraries --xunit xunit.xml --loglevel DEBUG:INFO tests/robot

## docs: libdoc HTML of every keyword library into docs/libdoc/
docs: $(STAMP)
	@mkdir -p docs/libdoc
	@for lib in NodeAccess HostTopology QemuCommandLine VcpuPinning GuestReport GuestMemory RuntimeConfig SimulatedNode PodLifecycle Scenario; do \
		$(BIN)/libdoc --quiet $(ROBOT_PATH) $$lib docs/libdoc/$$lib.html || exit 1; \
	done
	@echo "libdoc written to docs/libdoc/"

## run: the NUMA scenarios (suites/) against TARGET (sim by default); results in results/
run: $(STAMP)
	$(BIN)/robot $(ROBOT_PATH) --outputdir results --xunit xunit.xml -v TARGET:$(TARGET) suites

## benchmark: the pinning probe against the original shell approach; simulated node start to a Ready pod; probes of a real paused QEMU (vCPU threads, memory)
benchmark: $(STAMP)
	$(BIN)/python benchmarks/pinning_probe.py
	$(BIN)/python benchmarks/sim_startup.py
	$(BIN)/python benchmarks/ssh_probe.py
	$(BIN)/python benchmarks/memory_probe.py

clean:
	rm -rf $(VENV) results/libraries docs/libdoc .pytest_cache .ruff_cache
