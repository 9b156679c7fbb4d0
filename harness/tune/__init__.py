"""Hyper-parameter search with Optuna: resumable storage, pruning, parallel workers, confirm."""
