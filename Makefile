# Entry points. `make run` brings up the whole stack; `make test` proves it works.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: help run test test-fast bench chaos screenshots services stop lint format clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

run:  ## PostgreSQL, Redis, web, worker, beat and Flower in the foreground; Ctrl-C stops all (BROKER=rabbitmq: RabbitMQ too, as the broker)
	@scripts/venv.sh requirements.txt
	@scripts/stack.sh run

test:  ## ruff, Django checks and pytest against a private PostgreSQL and Redis (PYTEST_ARGS=...)
	@scripts/venv.sh requirements-dev.txt
	@scripts/stack.sh test $(PYTEST_ARGS)

test-fast:  ## The same checks, then only tests/unit/ (no live worker or web server): under 2 minutes
	@scripts/venv.sh requirements-dev.txt
	@scripts/stack.sh test tests/unit $(PYTEST_ARGS)

bench:  ## This service beside the plain Celery tutorial stack, in one run; a table of ratios (BENCH_ARGS=...)
	@scripts/venv.sh requirements-dev.txt
	@scripts/stack.sh bench $(BENCH_ARGS)

chaos:  ## 600 jobs while workers, Redis and PostgreSQL are killed; prints lost and duplicated (both must be 0)
	@scripts/venv.sh requirements-dev.txt
	@python scripts/chaos.py --jobs 600 --postgres-down-s 20 --json .var/chaos-result.json

screenshots:  ## Refresh docs/screenshots/ (the README's pictures) from the browser tests
	@scripts/venv.sh requirements-dev.txt
	@SCREENSHOT_DIR=$(CURDIR)/docs/screenshots scripts/stack.sh test tests/e2e/browser

services:  ## Start the test stack's PostgreSQL and Redis and leave them up (for running pytest directly)
	@scripts/stack.sh up test

stop:  ## Stop the PostgreSQL and Redis of both stacks if a run left them up
	@scripts/stack.sh stop run
	@scripts/stack.sh stop test

lint:  ## ruff (with its bug-catching rules: B, SIM, UP, DJ, RUF) and mypy on jobs/services and jobs/worker
	@scripts/venv.sh requirements-dev.txt
	ruff check . && ruff format --check . && DEBUG=true mypy

format:  ## Apply ruff's fixes and formatting
	@scripts/venv.sh requirements-dev.txt
	ruff check --fix . && ruff format .

clean: stop  ## Remove the virtualenv and all local data (.var/)
	rm -rf .venv .var staticfiles
