"""The generated world: the model zoo, the hidden contention model (ground truth), the
generator of instances (drafts, planted packing, assembly), the seed paper's workloads,
measurement campaigns, traces and the simulated measurer. Only what scores against the truth
imports it (bench, cluster simulation, measure, CLI): an import-linter contract in
pyproject.toml."""
