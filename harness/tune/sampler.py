"""The sampler: seeded per trial, so that no two workers ever draw with the same random stream.

A sampler seeded once per process repeats itself in every process seeded alike: several
``harness tune`` commands started together on a fresh study (each is "worker 0" with no stored
trial) drew the very same configurations. Instead, every trial draws from a sampler seeded with
``(sampler_seed, trial number)``, recorded as the trial's user attribute ``sampler_seed``. The
storage hands out each trial number once, to one worker, whatever the number of processes or
machines, so concurrent workers never share a stream; and a search run by one worker is still
reproducible from ``sampler_seed`` (same trials, same order, same draws: CPU training is
deterministic). Parallel searches are not reproducible either way: which worker sees which
finished trials depends on timing.

The per-trial sampler is Optuna's own (random, or TPE with ``constant_liar`` so that parallel
workers spread out) behind :class:`TrialSeededSampler`. A re-queued trial has its parameters
fixed; its seed is recorded but draws nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from harness.config.tune import TunePlan

SEED_ATTR = "sampler_seed"


def trial_seed(sampler_seed: int, number: int) -> int:
    """The 32-bit seed of trial ``number``'s draws (NumPy's seed-sequence hash of both).

    A negative ``sampler_seed`` is accepted (the study schema allows it): the sign is kept
    apart so that ``-s`` and ``s`` stay different searches.
    """
    entropy = [int(sampler_seed < 0), abs(sampler_seed), number]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def optuna_sampler(kind: str, seed: int) -> BaseSampler:
    """Optuna's random or TPE sampler with ``seed``."""
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: running trials count as bad guesses, so parallel workers spread out
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


class TrialSeededSampler(BaseSampler):
    """Delegates each call about trial *n* to a sampler built by ``make(n)``.

    Samplers read the history from the storage on every call, so a fresh one per trial loses
    nothing; the last one is kept while calls concern the same trial.
    """

    def __init__(self, make: Callable[[int], BaseSampler]) -> None:
        self._make = make
        self._number: int | None = None
        self._inner: BaseSampler | None = None

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        if self._inner is None or self._number != trial.number:
            self._number, self._inner = trial.number, self._make(trial.number)
        return self._inner

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Nothing to reseed: each trial's stream is fixed by its number."""


def make_sampler(plan: TunePlan) -> TrialSeededSampler:
    """The study's sampler: ``plan.tune.sampler`` seeded per trial by :func:`trial_seed`."""
    tune = plan.tune
    return TrialSeededSampler(
        lambda n: optuna_sampler(tune.sampler, trial_seed(tune.sampler_seed, n))
    )
