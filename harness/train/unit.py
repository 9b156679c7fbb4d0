"""One training unit: a dataset at a seed, a model built from its spec, fitted on train/val.

``harness run`` (which then evaluates on test and logs the child run) and ``harness tune``
(whose trials report every epoch to the pruner) both train through :func:`fit_unit`, so a trial
trains exactly the model that ``harness run`` would train with the same settings. Tracking is a
higher layer: what to record is passed in as callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from pydantic import BaseModel

from harness.config.load import model_train_config
from harness.config.study import DatasetSpec, ModelSpec, StudyConfig, TrainConfig
from harness.core.dataset import SequenceDataset
from harness.core.model import FittedModel, SequenceModel
from harness.core.registry import get_adapter, get_model
from harness.train.fit import EpochCallback, FitResult, TrainedMemo, fit, set_seed

StartCallback = Callable[[BaseModel, TrainConfig], None]


class TrainedUnit(NamedTuple):
    """What :func:`fit_unit` returns; unpacks as ``model, params, cfg, fitted``.

    Attributes
    ----------
    model : the fitted model, holding the weights of the epoch training kept
    params : the model's validated ``Params``
    cfg : the study's train settings merged with the model's own
    fitted : curves, best epoch and timings
    """

    model: SequenceModel | FittedModel
    params: BaseModel
    cfg: TrainConfig
    fitted: FitResult


def load_dataset(spec: DatasetSpec, seed: int) -> SequenceDataset:
    """The dataset of ``spec`` through its adapter (seeded: synthetic data and splits depend on it).

    Raises
    ------
    UserError
        Unknown adapter, invalid params, or data the adapter cannot read.
    """
    entry = get_adapter(spec.adapter)
    return entry.factory(entry.params.model_validate(spec.params), seed)


def build_model(
    spec: ModelSpec, dataset: SequenceDataset
) -> tuple[SequenceModel | FittedModel, BaseModel]:
    """An untrained model for ``dataset`` and its validated params.

    Seed torch before calling it: torch models initialise their weights here.
    """
    entry = get_model(spec.name)
    params = entry.params.model_validate(spec.params)
    return entry.factory(params, dataset.info), params


def _seeded_model(
    study: StudyConfig, spec: ModelSpec, dataset: SequenceDataset, seed: int
) -> tuple[SequenceModel | FittedModel, BaseModel, TrainConfig]:
    """The unit's untrained model (weights initialised under its seed), params and train config:
    what :func:`fit_unit` trains and :func:`weights_key` hashes."""
    cfg = model_train_config(study, spec)
    set_seed(seed, cfg.threads)
    model, params = build_model(spec, dataset)
    return model, params, cfg


def weights_key(study: StudyConfig, spec: ModelSpec, dataset: SequenceDataset, seed: int) -> str:
    """The :meth:`TrainedMemo.key` that :func:`fit_unit` gives this unit's model (built the same
    way, not trained); empty for a closed-form model, which the memo does not hold.

    A resumed study files its kept runs under it, so a teacher equal to one of them is fetched
    instead of trained again. The global random state is left as it was.
    """
    with torch.random.fork_rng():  # CPU and CUDA generators restored on exit
        model, _, cfg = _seeded_model(study, spec, dataset, seed)
    if isinstance(model, FittedModel):
        return ""
    return TrainedMemo.key(model, dataset.view("train"), dataset.view("val"), cfg, seed)


def fit_unit(
    study: StudyConfig,
    spec: ModelSpec,
    dataset: SequenceDataset,
    seed: int,
    *,
    on_start: StartCallback | None = None,
    on_epoch: EpochCallback | None = None,
    progress: Any | None = None,
    memo: TrainedMemo | None = None,
) -> TrainedUnit:
    """Build the model of ``spec`` under ``seed`` and fit it on the train and val splits.

    The test split is not read here.

    Parameters
    ----------
    study : supplies the train settings that ``spec.train`` overrides.
    seed : initialises the weights and shuffles the batches.
    on_start : called as ``on_start(params, cfg)`` once the model is built, before training, so
        that what was trained is recorded even when training then fails or is pruned.
    on_epoch : called as ``on_epoch(epoch, metrics)`` after every epoch (see
        :func:`harness.train.fit.fit`); it may raise to stop training.
    progress : a ``rich.progress.Progress`` to advance per epoch, or None.
    memo : the unit's trained models, so a teacher equal to one of them is not trained twice.
    """
    model, params, cfg = _seeded_model(study, spec, dataset, seed)
    if on_start is not None:
        on_start(params, cfg)
    fitted = fit(
        model,
        dataset.view("train"),
        dataset.view("val"),
        cfg,
        seed,
        on_epoch=on_epoch,
        progress=progress,
        memo=memo,
    )
    return TrainedUnit(model, params, cfg, fitted)
