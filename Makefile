# The targets the README names. `make demo` and `make test` work on a fresh machine: both
# install what is missing and bring up the local stack first.
VENV := .venv/bin
.DEFAULT_GOAL := help

.PHONY: help setup stack down status demo lint typecheck unit integration test schemas clean

help:
	@echo "make demo        the main job: the whole sync against the GHL simulator, then a convergence check"
	@echo "make test        lint, type checks and every test against the real stack"
	@echo "make setup       install Debian packages (if missing) and the Python environment"
	@echo "make stack|down|status   the local Kafka and PostgreSQL"
	@echo "make lint|typecheck|unit|integration|schemas"

setup:
	scripts/bootstrap

stack: setup
	$(VENV)/ghl-sync stack up

down:
	$(VENV)/ghl-sync stack down

status:
	$(VENV)/ghl-sync stack status

demo: stack
	$(VENV)/ghl-sync demo

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

typecheck: setup
	$(VENV)/mypy

unit: setup
	$(VENV)/pytest tests/unit

integration: stack
	$(VENV)/pytest tests/integration

test: lint typecheck stack
	$(VENV)/pytest

schemas: setup
	$(VENV)/ghl-sync schemas export docs/schemas/events

clean: down
	rm -rf .stack
