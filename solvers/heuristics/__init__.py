"""Heuristics: one filter + score engine, its scores (baselines, greedy), local search, repair."""
