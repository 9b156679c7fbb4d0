"""genomic-sparse-harness: benchmark sparse and attention-guided models on DNA, tracked in MLflow."""

__version__ = "0.1.0"
