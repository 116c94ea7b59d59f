"""Exact solvers over one configuration master: CP-SAT, HiGHS and CBC backends, column
generation, and the exhaustive reference."""
