# Parley developer entry points.
#
#   make run        local PostgreSQL (scripts/pg.sh) + migrate + demo workspace + serve
#   make bench      messaging benchmark on a fresh database (scripts/bench-messaging.sh)
#   make bench-broadcast  100,000-recipient broadcast benchmark (scripts/bench-broadcast.sh)
#   make test       tests against a separate, fast, reused PostgreSQL cluster
#   make fuzz       schemathesis (PyPI) with seed 000's OpenAPI document against Parley
#   make test-clean stop and delete the test cluster
#   make fmt | fmt-check | lint
#   make db-start | db-stop
#
# Variables (environment or command line):
#   DATABASE_URL         use this database instead of the local cluster (run, bench)
#   PARLEY_SECRET_KEY    defaults to scripts/secret-key.sh (.data/secret.key)
#   PARLEY_PG_PORT       port of the local cluster (default 54329)
#   PARLEY_TEST_PG_PORT  port of the test cluster (default 54330)
#   CARGO_TARGET_DIR     honoured when locating the release binary
#   BENCH_ARGS           options of `parley bench messaging` or `broadcast` (e.g. --seconds 5,
#                        --recipients 10000)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

CARGO ?= cargo
PARLEY_TEST_PG_PORT ?= 54330
TEST_PG_ARGS := --data .data/pg-test --port $(PARLEY_TEST_PG_PORT)
BIN := $(or $(CARGO_TARGET_DIR),target)/release/parley

# Shell snippet: export DATABASE_URL (starting the local cluster unless the
# caller provided one) and PARLEY_SECRET_KEY.
define dev_env
if [[ -z "$${DATABASE_URL:-}" ]]; then
	scripts/pg.sh start
	DATABASE_URL="$$(scripts/pg.sh url)"
fi
export DATABASE_URL
if [[ -z "$${PARLEY_SECRET_KEY:-}" ]]; then
	PARLEY_SECRET_KEY="$$(scripts/secret-key.sh)"
fi
export PARLEY_SECRET_KEY
endef

.PHONY: help run bench bench-broadcast test test-clean fuzz fmt fmt-check lint db-start db-stop

help:
	@sed -n '3,12p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

run:
	@$(dev_env)
	$(CARGO) build --release -p parley
	echo "+ parley migrate" >&2
	"$(BIN)" migrate
	echo "+ parley demo" >&2
	"$(BIN)" demo
	echo "+ parley serve" >&2
	exec "$(BIN)" serve

bench:
	@scripts/bench-messaging.sh $(BENCH_ARGS)

bench-broadcast:
	@scripts/bench-broadcast.sh $(BENCH_ARGS)

test:
	@scripts/pg.sh start $(TEST_PG_ARGS) --fast
	DATABASE_URL="$$(scripts/pg.sh url $(TEST_PG_ARGS))"
	export DATABASE_URL PARLEY_TEST_DATABASE_URL="$$DATABASE_URL"
	# The cluster is reused between runs: drop the previous run's databases first.
	for db in $$(psql "$$DATABASE_URL" -qAtX -c "SELECT datname FROM pg_database WHERE datname LIKE 'parley\_test\_%' AND datname <> 'parley_test_template'"); do
		psql "$$DATABASE_URL" -qX -c "DROP DATABASE IF EXISTS $$db WITH (FORCE)" >/dev/null
	done
	# The CLI tests run the real binary: build it from this source first.
	$(CARGO) build -p parley
	if $(CARGO) nextest --version >/dev/null 2>&1; then
		echo "+ cargo nextest run --workspace --no-fail-fast" >&2
		$(CARGO) nextest run --workspace --no-fail-fast
	else
		echo "cargo-nextest not found; falling back to cargo test" >&2
		$(CARGO) test --workspace --no-fail-fast
	fi

fuzz:
	@scripts/fuzz-external-api.sh $(FUZZ_ARGS)

test-clean:
	@scripts/pg.sh destroy $(TEST_PG_ARGS)

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

db-start:
	@scripts/pg.sh start

db-stop:
	@scripts/pg.sh stop
	scripts/pg.sh stop $(TEST_PG_ARGS)
