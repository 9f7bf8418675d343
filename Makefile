# Two commands for a fresh machine: `make run` (the station, in simulation) and `make test` (every test).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean bytecode

$(STAMP): setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# REON's own modules byte-compiled, as installing a wheel does: every process the station or a test starts then
# loads them instead of compiling them (PYTHONDONTWRITEBYTECODE stops the interpreter writing them itself)
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q bus services station sim reonctl

run: bytecode
	$(BIN)/reonctl up --follow

test: bytecode
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

bench: bytecode
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/station.py
	$(BIN)/python bench/evse_timing.py
	$(BIN)/python bench/evse_timing.py --stress
	$(BIN)/python bench/schema_validators.py
	$(BIN)/python bench/ocpp_rpc.py
	$(BIN)/python bench/ocpp_queue.py
	$(BIN)/python bench/firmware.py
	$(BIN)/python bench/smart_charging.py

clean:
	-$(BIN)/reonctl down
	rm -rf var $(VENV)
