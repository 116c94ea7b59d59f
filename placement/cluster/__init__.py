"""A running cluster: moves, events of a trace, Kubernetes in and out (SPEC sections 9, 11)."""
