"""Running a study: units of dataset x seed, MLflow tracking, the analysis and report at the end,
the console.
"""
