# The two commands a fresh machine needs (see README.md):
#   make run   — the main job: a chaos experiment and the conformance suite, against the
#                cluster KUBECONFIG points at, or the local cluster (started and stopped here)
#   make test  — the project's own tests (lint, types, unit, integration on the local cluster)
.PHONY: run test setup bench

setup:
	@scripts/setup.sh

run: setup
	.venv/bin/ordinal run

test: setup
	.venv/bin/tox -e ci

bench: setup
	.venv/bin/tox -e bench
