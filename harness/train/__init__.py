"""Training and evaluating one model: the fit loop, the shared train-one-unit, test evaluation,
ablation.
"""
