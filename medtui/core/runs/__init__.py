"""Runs: run records, the detached runner and its supervisor, and the incremental log readers."""
