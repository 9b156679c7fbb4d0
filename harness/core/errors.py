"""The exception types the harness tells apart, and a failure's one-line reason.

Anything raised as ``UserError`` is printed by the CLI as a single line and exits with code 2.
``Diverged`` fails one run and the study goes on. Every other exception is a bug: the CLI exits
1 with the traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (study file, data file, parameters, paths)."""


class Diverged(Exception):
    """Training went non-finite: a model output, the loss, the gradient norm or the weights.

    Not a :class:`UserError`: the run is FAILED and the study goes on with the next one. The
    message is the whole failure reason, e.g. ``diverged: loss nan at epoch 3 step 17
    (train.lr=0.5)``: what went non-finite (``output``, ``loss``, ``grad_norm``, ``weights``,
    ``val_output``), its value (``nan``, ``inf`` or ``-inf``), then the 1-based epoch and the
    1-based optimizer step within that epoch, and in brackets the configured learning rate and,
    for an extra loss term, its name (``term: <name>``).
    """


def failure_reason(err: BaseException) -> str:
    """What a FAILED run records as its reason: ``"<ExceptionType>: <message>"``, or a
    :class:`Diverged` message alone (it already says what happened)."""
    return str(err) if isinstance(err, Diverged) else f"{type(err).__name__}: {err}"
