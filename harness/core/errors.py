"""The one exception type for user mistakes.

Anything raised as ``UserError`` is printed by the CLI as a single line and exits with code 2.
Every other exception is a bug: the CLI exits 1 with the traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (study file, data file, parameters, paths)."""
