"""Benchmark suites: TOML suites, the runner (process pool), reports and plots."""
