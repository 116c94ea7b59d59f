"""The generated world: the model zoo, the hidden contention model (ground truth) and the
generator of instances and profiling campaigns. Nothing a solver or predictor reaches imports it."""
