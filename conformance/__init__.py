"""The conformance suite, one module per promise area (README.md); installed as ``ordinal.conformance``,
so ``pytest --pyargs ordinal.conformance`` runs it from a wheel."""
