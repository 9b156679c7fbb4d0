"""The contracts everything else builds on: datasets, models, results, the registry, task metrics,
errors.
"""
