"""Benchmark suites: TOML suites (package data in ``suites/``), the runner, its executors
(process pool or Ray), reports and plots."""
