"""Real measurements (SPEC section 10): the ONNX Runtime profiler, its built-in models, the
worker processes that serve them, and the measurement-request protocol."""
