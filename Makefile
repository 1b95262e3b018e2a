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

## test: the whole suite against a real (embedded) PostgreSQL, then the browser tests
# The browser tests (tests/browser: sync Playwright driving /usr/bin/chromium against a real
# gateway process) run in a pytest process of their own, without the asyncio plugins the rest
# of the suite needs; -W silences the warnings about those plugins' ini options.
test: $(DEV)
	$(BIN)/python -m pytest --ignore=tests/browser
	$(BIN)/python -m pytest tests/browser -p no:asyncio -p no:aiohttp -W ignore::pytest.PytestConfigWarning

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

# Benchmarks (issue 6) never run inside `make test`. Both install Debian's wrk when missing.
WRK_INSTALL := command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk)
.PHONY: bench bench-quick

## bench: the full benchmark (about 9 minutes: the floor against a bare aiohttp proxy first),
## then the ledger's (10M usage rows, about 10 more) and the capacity one (1 and 2 gateway
## processes on one PostgreSQL, 1 more);
## rewrites docs/benchmarks.md below its marker line, and the ledger and capacity blocks
bench: $(DEV)
	@$(WRK_INSTALL)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.ledger
	$(BIN)/python -m bench.capacity

## bench-quick: under a minute (c=1 and c=64, 3 s each, WORKERS=1); writes bench-results/quick.md
bench-quick: $(DEV)
	@$(WRK_INSTALL)
	$(BIN)/python -m bench --quick --output bench-results/quick.md
