"""Skylark's benchmarks: scripts that print figures (see bench/README.md and docs/benchmarks.md)."""
