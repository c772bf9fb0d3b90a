# Pay Central. `make run` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run serve test lint migrate seed web worker beat clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py verify_ledger

# Web (http://127.0.0.1:$(PORT)) + Celery worker + beat. With no DATABASE_URL the embedded
# PostgreSQL server (var/pgdata) runs with them and stops when they stop: Ctrl-C stops
# them all and make exits 0. `serve` starts them without installing, migrating or seeding.
# The demo shows the product's 404 and 500 pages with DEBUG on (PRODUCT_ERROR_PAGES).
PORT ?= 8000
SERVE = PRODUCT_ERROR_PAGES=$${PRODUCT_ERROR_PAGES:-True} $(BIN)/python -m core.embedded_db run -- $(BIN)/honcho -f Procfile.dev start --port $(PORT)

run: seed
	@$(SERVE)

serve: install
	@$(SERVE)

# The whole suite. Uses PostgreSQL/Redis on 127.0.0.1 when they answer;
# REQUIRE_SERVICES=1 makes a missing service a failure instead of a skip.
test: install
	@scripts/ensure-chromium
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@# The check reads the migration history, which starts the embedded server when no
	@# DATABASE_URL is set: stop it again unless it was running before.
	@before=$$($(BIN)/python -m core.embedded_db status); \
	$(BIN)/python manage.py makemigrations --check --dry-run; code=$$?; \
	case "$$before" in stopped*) $(BIN)/python -m core.embedded_db stop >/dev/null;; esac; \
	exit $$code

# Removes the broker, cache and test folders; the embedded database (var/pgdata) is kept.
clean:
	-$(BIN)/python -m core.embedded_db stop --data var/test/pgdata
	rm -rf var/broker var/cache var/test
