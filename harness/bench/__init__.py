"""Speed and memory of a model's inference and training step against sequence length.

The grid's constants live here, free of torch, so the CLI can show them in ``--help`` without
loading the measuring code.
"""

# a measured point's pass: a forward without gradients, or forward + backward + optimizer step
MODES = ("inference", "train_step")
DEFAULT_LENGTHS = (1024, 4096, 16384, 32768)
LONG_LENGTHS = (131072, 262144, 524288, 1048576)  # what ``--long`` adds
