"""tune: the Optuna search of ``harness tune`` (entry point :func:`harness.tune.main.run_tune`)."""
