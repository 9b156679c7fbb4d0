"""Speed and memory of a model's forward pass against sequence length."""
