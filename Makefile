# Two commands do everything: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: run test migrate lint format compose-check lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

## run: install, start (embedded PostgreSQL unless DATABASE_URL is set), migrate, serve
run: $(RUNTIME)
	$(BIN)/python -m proxy serve

## test: the whole suite against a real (embedded) PostgreSQL
test: $(DEV)
	$(BIN)/python -m pytest

## migrate: apply pending migrations and exit
migrate: $(RUNTIME)
	$(BIN)/python -m proxy migrate

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## compose-check: validate docker-compose.yml (needs docker-compose: apt-get install docker-compose)
compose-check:
	docker-compose -f docker-compose.yml config -q

## lock: re-pin every installed package (direct and transitive) into constraints.txt
lock: $(DEV)
	$(BIN)/pip freeze --exclude-editable | grep -v "^-e " > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info
