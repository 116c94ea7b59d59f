"""The learned slowdown predictor: features, estimators, their compiled small-batch forms,
the SlowdownPredictor facade, persistence and evaluation."""
