"""genomic-sparse-harness: sparse and attention-guided models on DNA, benchmarked in MLflow."""

__version__ = "0.1.0"
