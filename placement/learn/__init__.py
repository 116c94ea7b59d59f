"""The learned slowdown predictor: features, estimators, persistence and evaluation."""
