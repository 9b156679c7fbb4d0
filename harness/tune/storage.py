"""Where the Optuna study lives: the storage, the claim lock beside it, and the study itself
with its sampler (:mod:`~harness.tune.sampler`) and pruner.

The default storage is a journal file under ``out_dir`` (safe for several processes on one
machine); an RDB URL serves workers on several machines. Running the same command again loads
the same study, so a search resumes until ``n_trials`` trials exist in total.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna

from harness.config.load import model_train_config
from harness.config.tune import TunePlan
from harness.core.errors import UserError
from harness.tune.reasons import first_line
from harness.tune.sampler import make_sampler

JOURNAL_LOCK_GRACE = 30
"""Seconds after which a lock left by a killed process is broken (Optuna's default)."""


def is_rdb(url: str) -> bool:
    """True for a database URL, False for a journal file path."""
    return "://" in url


def shown_url(url: str) -> str:
    """The storage URL without its password, for logs and tags."""
    if not is_rdb(url):
        return url
    try:
        # deferred on purpose: only RDB URLs need SQLAlchemy, and Optuna loads it lazily too
        from sqlalchemy.engine import make_url  # noqa: PLC0415

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has nothing we could hide reliably
        return url.split("://", 1)[0] + "://…"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage for a URL, else a journal file (created with its folder).

    Raises
    ------
    UserError
        When the database cannot be reached or the journal file cannot be written.
    """
    if is_rdb(url):
        kwargs: dict[str, Any] = {}
        if url.startswith("postgres"):
            # libpq waits for the TCP timeout (minutes) on an unreachable host by default
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as err:  # driver missing, bad URL, host down, permissions
            raise UserError(
                f"tune.storage: cannot open {shown_url(url)!r}: {first_line(err)}"
            ) from None
    path = Path(url)
    if path.is_dir():
        raise UserError(f"tune.storage: {url!r} is a folder; give a journal file path or an URL")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = optuna.storages.journal.JournalFileBackend(
                str(path.resolve()), lock_obj=file_lock(path)
            )
        return optuna.storages.JournalStorage(backend)
    except OSError as err:
        raise UserError(f"tune.storage: cannot write journal {url!r}: {first_line(err)}") from None


def file_lock(path: Path) -> optuna.storages.journal.JournalFileOpenLock:
    """An O_EXCL lock file beside ``path`` (``path`` + ``.lock``), for the processes of a machine.

    A lock left by a killed holder is broken after ``JOURNAL_LOCK_GRACE`` seconds, so a crash
    never blocks a resume. The journal does not use Optuna's default symlink lock: with a
    relative journal path in a sub-folder (the default layout) the link's relative target does
    not resolve, its staleness is never seen, and a worker killed while writing would block
    every later run for ever.
    """
    return optuna.storages.journal.JournalFileOpenLock(
        str(path.resolve()), grace_period=JOURNAL_LOCK_GRACE
    )


def lock_path(plan: TunePlan) -> Path:
    """Where the claim lock lives: beside the journal, or in ``out_dir`` for an RDB storage."""
    if is_rdb(plan.storage):
        Path(plan.tune.out_dir).mkdir(parents=True, exist_ok=True)
        return Path(plan.tune.out_dir) / f"{plan.study.name}.claim"
    return Path(f"{plan.storage}.claim")


@contextlib.contextmanager
def claim_lock(path: Path) -> Iterator[None]:
    """A lock shared by every process of this machine, held for the ``with`` block."""
    lock = file_lock(path)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def make_pruner(plan: TunePlan) -> optuna.pruners.BasePruner:
    """Median or Hyperband over epochs (the step reported is the 1-based epoch)."""
    cfg = plan.tune.pruner
    if cfg.name == "none":
        return optuna.pruners.NopPruner()
    if cfg.name == "median":
        # n_warmup_steps is the first prunable step; epochs 1..warmup_epochs stay safe
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs + 1
        )
    searched = {p.field for p in plan.space if p.target == "train"}
    epochs = model_train_config(plan.study, plan.model).epochs
    max_resource: int | str = "auto" if "epochs" in searched else max(epochs, 2)
    return optuna.pruners.HyperbandPruner(
        min_resource=max(1, cfg.warmup_epochs), max_resource=max_resource
    )


def open_study(plan: TunePlan, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Create or load the Optuna study named after the harness study, with a sampler seeded
    per trial (:mod:`~harness.tune.sampler`) and the plan's pruner.

    Raises
    ------
    UserError
        The stored study optimises in the other direction.
    """
    study = optuna.create_study(
        study_name=plan.study.name,
        storage=storage,
        direction=plan.direction,
        sampler=make_sampler(plan),
        pruner=make_pruner(plan),
        load_if_exists=True,
    )
    stored = study.direction.name.lower()
    if stored != plan.direction:
        raise UserError(
            f"tune.objective.direction: the stored study {plan.study.name!r} was created to "
            f"{stored}; give a new study name or storage to {plan.direction}"
        )
    return study
