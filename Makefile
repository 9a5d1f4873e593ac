# Two commands: `make demo` and `make test`. Each creates .venv and installs chatsim when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench soak clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The whole product on bundled defaults: predict a full day, replay a small scenario against the
# reference gateway with Locust, compare the two, write the reports, and plan small.yaml's shifts.
demo: $(STAMP)
	$(BIN)/chatsim simulate scenarios/tele2-weekday.yaml --replications 10 --jobs 2 --out reports/demo/tele2 --report reports/demo/tele2.html
	$(BIN)/chatsim replay scenarios/small.yaml --speedup 120 --out reports/demo/replay
	-$(BIN)/chatsim compare reports/demo/replay/model reports/demo/replay/replay --junit reports/demo/compare.xml --markdown reports/demo/compare.md
	$(BIN)/chatsim report reports/demo/replay/model reports/demo/replay/replay --scenario scenarios/small.yaml --out reports/demo/index.html
	-$(BIN)/chatsim staff scenarios/small.yaml --shift-length 3h --shift-length 2h --out reports/demo/staff
	@echo "open reports/demo/index.html (model vs replay) and reports/demo/tele2.html (a full day)"

test: $(STAMP)
	$(BIN)/ruff check sim tests locustfiles scripts examples
	$(BIN)/ruff format --check sim tests locustfiles scripts examples
	$(BIN)/mypy sim
	$(BIN)/lint-imports
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m sim.bench
	$(BIN)/python scripts/run_cost.py
	$(BIN)/python scripts/scale_bench.py

# Minutes of steady webhooks with agents answering, against a real gateway process and a
# platform stub (not part of `make test`). SOAK_ARGS="--rate 600 --duration 60
# --gateway-option=--limit-concurrency=300 --gateway-option=--outbound-queue-limit=200" goes
# past saturation.
SOAK_ARGS ?= --rate 200 --duration 300
soak: $(STAMP)
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) reports/demo .pytest_cache .mypy_cache .ruff_cache
