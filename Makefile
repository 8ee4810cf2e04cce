# The two commands of the README: `make run` and `make test`.
.PHONY: run test lint generate

run:
	@scripts/bootstrap.sh local
	@.venv/bin/memoire up

test:
	@scripts/bootstrap.sh dev
	@scripts/test.sh

lint:
	@scripts/bootstrap.sh dev
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

generate:
	@scripts/bootstrap.sh dev
	@.venv/bin/python scripts/generate_protos.py
	@.venv/bin/python scripts/build_descriptor.py
	@.venv/bin/python scripts/build_openapi.py
	@cd clients/ts && npm run --silent generate
