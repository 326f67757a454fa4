# Zero-config entry points. With DATABASE_URL / REDIS_URL unset, embedded PostgreSQL and
# Redis run from .data/ (see marketplace/embedded.py).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test services stop migrate lint format install replica

$(INSTALLED): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(INSTALLED)

install: $(INSTALLED)

services: $(INSTALLED)
	$(BIN)/python -m marketplace.embedded start

# A streaming read replica of the embedded PostgreSQL (pg_basebackup -R; .data/replica, its own
# socket). It writes .data/replica.env (DATABASE_REPLICA_URLS), so `make run`/`make serve` started
# afterwards read replica-safe pages from it; `make stop` stops it.
replica: services
	$(BIN)/python -m marketplace.embedded replica

stop:
	$(BIN)/python -m marketplace.serve stop
	$(BIN)/python -m marketplace.worker stop
	$(BIN)/python -m marketplace.embedded stop

migrate: services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py partitions

# Development mode is explicit (DEBUG defaults to false): `make run` runs with DEBUG=true and
# writes it to .data/dev.env, so manage.py commands typed in this checkout are in development
# mode too. Delete that file to make the checkout production-like.
DEV_ENV := .data/dev.env

$(DEV_ENV):
	mkdir -p $(dir $@)
	printf '%s\n' '# Written by make run: this checkout is a development machine.' 'DEBUG=true' > $@

# Links in emails and localstripe's webhook follow the port the site is served on.
run serve: export SITE_URL ?= http://$(HOST):$(PORT)
run serve: export LOCALSTRIPE_WEBHOOK_URL ?= http://$(HOST):$(PORT)/payments/webhooks/stripe/
# The job worker (emails, periodic jobs) runs in the background beside daphne
# (.data/worker.pid, .data/worker.log): a second `make run` restarts it, `make stop` stops it.
run: export DEBUG ?= true
run: migrate $(DEV_ENV)
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo --if-empty --listings 300
	$(BIN)/python manage.py refresh_search_lexicon
	$(BIN)/python -m marketplace.worker start
	$(BIN)/daphne -b $(HOST) -p $(PORT) marketplace.asgi:application

# Production-style (DEBUG=false: SECRET_KEY and ALLOWED_HOSTS required): checks, collectstatic,
# uvicorn workers, bounded shutdown on SIGTERM (marketplace/serve.py). `make stop` stops it.
serve: export DEBUG = false
serve: migrate
	$(BIN)/python -m marketplace.serve --host $(HOST) --port $(PORT)

test: services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
