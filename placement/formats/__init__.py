"""What users write and read: instance, solution and measurement files, JSON loading with
JSON-path errors, atomic writes, and the error types that carry a user's mistake to exit 2."""
