# TradeFlow. `make run` starts the whole site on embedded defaults; `make test` runs every
# check CI runs. Both set themselves up first and are safe to re-run.
.PHONY: run test bench lint setup clean-var

# Tests talk to the real services on localhost unless the caller points elsewhere.
TEST_ENV = TRADEFLOW_DATABASE_URL=$${TRADEFLOW_TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306/tradeflow} \
	TRADEFLOW_MARKETDATA_URL=$${TRADEFLOW_TEST_MARKETDATA_URL:-postgresql://postgres@127.0.0.1:5432/tradeflow_md} \
	TRADEFLOW_REDIS_URL=$${TRADEFLOW_TEST_REDIS_URL:-redis://127.0.0.1:6379/9}

run:
	@scripts/setup.sh run
	@.venv/bin/python -m tradeflow.runstack

test:
	@scripts/setup.sh test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	@mkdir -p var  # the embedded SQLite's folder: makemigrations checks the history there
	.venv/bin/python manage.py makemigrations --check --dry-run
	$(TEST_ENV) .venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	@scripts/setup.sh test
	$(TEST_ENV) .venv/bin/python -m benchmarks $(BENCH_ARGS)

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
