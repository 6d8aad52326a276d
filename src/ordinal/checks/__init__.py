"""Pure checks: fetched objects, DNS answers and timelines in, ``list[Finding]`` out.

Nothing here calls the API, sleeps or raises for a broken promise, so every check is
unit-tested with plain dicts and reused unchanged by pytest specs and chaos probes.
"""
