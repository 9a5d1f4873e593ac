# Two commands: `make demo` and `make test`. Each creates .venv and installs chatsim when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chatsim simulate scenarios/tele2-weekday.yaml --replications 5 --out reports/demo

test: $(STAMP)
	$(BIN)/ruff check sim tests locustfiles scripts
	$(BIN)/mypy sim
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m sim.bench

clean:
	rm -rf $(VENV) reports/demo .pytest_cache .mypy_cache .ruff_cache
