"""Typed study configuration: the YAML file a user writes, validated before any work starts.

Every default lives here (harness-wide) or in an adapter's / model's own ``Params`` class.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from harness.core.devices import MAX_THREADS, resolve_device
from harness.core.errors import UserError
from harness.core.registry import suggest

# Study names and labels become folder names, file names and MLflow metric names: letters,
# digits and ``._-`` only, no leading dot (``..`` and hidden folders), at most 64 characters.
SAFE_NAME = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME)]

# Seeds feed numpy, torch and scikit-learn generators, which take 0 <= seed < 2**32.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]

# MLflow's stores by URI scheme (a bare path is a local file store)
TRACKING_SCHEMES = ("file", "sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def check_tracking_uri(uri: str, where: str = "tracking.uri") -> str:
    """``uri`` if MLflow has a store for its scheme, else a one-line :class:`UserError`."""
    found = _SCHEME.match(uri)
    scheme = found.group(1).split("+")[0].lower() if found else ""
    if found and len(scheme) > 1 and scheme not in TRACKING_SCHEMES:
        raise UserError(
            f"{where}: no MLflow store for scheme {scheme!r} in {uri!r} "
            f"(valid: {', '.join(TRACKING_SCHEMES)}, or a local path)"
        )
    return uri


class Strict(BaseModel):
    # NaN and infinite floats are typos, never settings (``lr: .inf``)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TrainConfig(Strict):
    """How every torch model is trained (non-torch baselines ignore the epoch settings)."""

    epochs: int = Field(25, ge=1, description="maximum training epochs")
    batch_size: int = Field(32, ge=1, description="training sequences per optimizer step")
    lr: float = Field(1e-3, gt=0, description="learning rate (peak rate when scheduled)")
    weight_decay: float = Field(
        0.0, ge=0, description="L2 penalty (adam) or decoupled weight decay (adamw)"
    )
    optimizer: Literal["adam", "adamw"] = Field("adam", description="torch optimizer")
    patience: int = Field(
        5, ge=0, description="epochs without improvement before stopping; 0 = off"
    )
    grad_clip: float | None = Field(1.0, gt=0, description="max gradient norm; null = off")
    threads: int = Field(2, ge=1, le=MAX_THREADS, description="torch CPU threads")
    monitor: str = Field(
        "loss", description="validation metric for early stopping and checkpoint selection"
    )
    device: str = Field(
        "cpu", description="torch device: cpu, cuda, cuda:0, ...; auto = cuda (bf16) if present"
    )
    schedule: Literal["none", "warmup_cosine"] = Field(
        "none", description="learning rate: none = fixed, or linear warmup then cosine decay to 0"
    )
    warmup_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of all optimizer steps spent warming up (cosine)"
    )
    reverse_complement: bool = Field(
        False, description="augment: each training sequence reverse-complemented with p = 0.5"
    )

    @field_validator("device")
    @classmethod
    def _device_here(cls, value: str) -> str:
        # refused at load, before any training, with the devices this machine has
        try:
            resolve_device(value)
        except UserError as err:
            raise ValueError(str(err).removeprefix("train.device: ")) from None
        return value


class TrackingConfig(Strict):
    """Where the MLflow runs go."""

    uri: str | None = Field(
        None, description="MLflow tracking URI; default $MLFLOW_TRACKING_URI or mlruns/mlflow.db"
    )
    experiment: str | None = Field(
        None, max_length=256, description="MLflow experiment; default the study name"
    )

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            return check_tracking_uri(value)
        except UserError as err:
            raise ValueError(str(err).removeprefix("tracking.uri: ")) from None


class EvaluationConfig(Strict):
    """What is computed on the test split after training (never used for selection)."""

    importance_max_examples: int = Field(
        2000,
        ge=0,
        description="test examples (a class-balanced subset) whose importance is computed, logged",
    )
    ablation_steps: int = Field(
        10, ge=0, description="points on each masking (ablation) curve; 0 = no curves"
    )
    ablation_max_examples: int = Field(1000, ge=1, description="test examples used for the curves")
    subset_seed: int = Field(
        0,
        ge=0,
        description="seed of the class-balanced test subset that importance, masking curves and "
        "enrichment use; independent of the run seed, so every seed analyses the same examples",
    )
    save_models: bool = Field(True, description="log each trained model's weights to MLflow")


class ReportConfig(Strict):
    """The HTML / Markdown report written when a study finishes."""

    enabled: bool = Field(True, description="write the HTML/Markdown report at the end of run")
    out_dir: str = Field("reports", description="reports are written to <out_dir>/<study name>/")

    @model_validator(mode="before")
    @classmethod
    def _claims_moved(cls, data: Any) -> Any:
        # `report.claims: true` predates claims files: say where the setting went
        if isinstance(data, dict) and "claims" in data:
            raise ValueError(
                "report.claims was replaced by a top-level `claims: <file>` naming a claims "
                "file, e.g. `claims: studies/claims/seed_claims.yaml`"
            )
        return data


class ObjectiveConfig(Strict):
    """What a tuning trial is judged by: a validation metric and its direction."""

    metric: str = Field(description="a validation metric, e.g. val_auroc (never test_*)")
    direction: Literal["maximize", "minimize"] | None = Field(
        None, description="default: minimize for loss/mse/mae, maximize otherwise"
    )


class PrunerConfig(Strict):
    """Stops trials whose per-epoch validation curve is worse than the others' (Optuna pruner)."""

    name: Literal["median", "hyperband", "none"] = Field(
        "median", description="Optuna pruner; none = every trial runs all its epochs"
    )
    startup_trials: int = Field(5, ge=0, description="finished trials before median pruning")
    warmup_epochs: int = Field(1, ge=0, description="epochs of a trial that are never pruned")


class TuneConfig(Strict):
    """``harness tune``: an Optuna search over one model's params on one dataset (validation)."""

    model: str | None = Field(None, description="label in `models` or a model name; default first")
    dataset: str | None = Field(None, description="label in `datasets`; default the first")
    objective: ObjectiveConfig = Field(
        description="validation metric the search optimises; a bare string = its metric"
    )
    space: dict[str, dict[str, Any]] = Field(
        min_length=1, description="param -> {float|int: [low, high], log, step} | {categorical}"
    )
    n_trials: int | None = Field(None, ge=1, description="total trials, resumed runs included")
    timeout: float | None = Field(None, gt=0, description="seconds this invocation may search")
    sampler: Literal["tpe", "random"] = Field(
        "tpe", description="Optuna sampler: tree-structured Parzen estimator or random search"
    )
    sampler_seed: int = Field(
        0,
        description="trial n draws with seed (sampler_seed, n): workers never share a stream; "
        "one worker repeats",
    )
    pruner: PrunerConfig = Field(
        default_factory=PrunerConfig,
        description="early stop of poor trials; a bare string = its name",
    )
    storage: str | None = Field(
        None, description="RDB URL or journal file; default <out_dir>/<study name>.journal"
    )
    workers: int = Field(1, ge=1, le=MAX_THREADS, description="processes searching in parallel")
    seed: Seed | None = Field(None, description="training seed of every trial; default seeds[0]")
    confirm: bool = Field(True, description="train best and default over seeds, test once")
    heartbeat_interval: int = Field(30, ge=1, description="seconds between trial heartbeats")
    grace_period: int = Field(120, ge=2, description="silent seconds before a trial is stale")
    max_retry: int = Field(3, ge=0, description="retries of a trial whose worker died")
    out_dir: str = Field("optuna", description="journal, best study YAML and plots go here")

    @field_validator("objective", mode="before")
    @classmethod
    def _metric_only(cls, value: Any) -> Any:
        # `objective: val_auroc` is shorthand for `{metric: val_auroc}`
        return {"metric": value} if isinstance(value, str) else value

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_name(cls, value: Any) -> Any:
        # `pruner: hyperband` is shorthand for `{name: hyperband}`
        return {"name": value} if isinstance(value, str) else value


class DatasetSpec(Strict):
    """One entry of ``datasets``: an adapter and its params."""

    adapter: str = Field(description="registered adapter name (`harness list`)")
    label: SafeName | None = Field(None, description="name in results; default the adapter name")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the adapter's params (its table below); unset ones take its defaults",
    )
    models: list[str] | None = Field(
        None, description="model labels to run on this dataset; default every model of the study"
    )

    @property
    def key(self) -> str:
        return self.label or self.adapter


class SuiteRef(Strict):
    """A named benchmark suite (``studies/suites/<name>.yaml``, :mod:`harness.config.suites`)
    that the study runs; its datasets are written into the study's ``datasets`` when loaded."""

    name: str = Field(description="suite file name under studies/suites/ (without .yaml)")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="params merged into every suite dataset's params (e.g. max_train: 2000)",
    )

    @model_validator(mode="before")
    @classmethod
    def _name_only(cls, data: Any) -> Any:
        # `suite: gue_promoters` is shorthand for `{name: gue_promoters}`
        return {"name": data} if isinstance(data, str) else data


class ModelSpec(Strict):
    """One entry of ``models``: a model variant, its params and its own train settings."""

    name: str = Field(description="registered model name (`harness list`)")
    label: SafeName | None = Field(None, description="name in results; default the model name")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the model's params (its table below); unset ones take its defaults",
    )
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="this model's overrides of the study's train settings (any key of `train`)",
    )

    @property
    def key(self) -> str:
        return self.label or self.name


class StudyConfig(Strict):
    """A study file: datasets x models x seeds, how they train, are evaluated and tracked."""

    name: SafeName = Field(
        description="folder of the report and default MLflow experiment: letters, digits, ._- "
        "(no leading dot, at most 64 characters)"
    )
    description: str = Field("", description="free text shown in the report")
    seeds: list[Seed] = Field(
        default_factory=lambda: [0, 1, 2],
        min_length=1,
        description="run seeds (distinct): every model trains once per dataset and seed",
    )
    reference: str | None = Field(
        None,
        description="model label others are compared against; default (resolved when the study "
        "is loaded): the first model whose class declares role 'reference', else the first "
        "model that is not a baseline, else the first model",
    )
    baselines: list[str] | None = Field(
        None,
        description="model labels every model must beat (report); default: the study's models "
        "whose class declares role 'baseline'",
    )
    jobs: int = Field(
        1,
        ge=1,
        le=256,
        description="worker processes for `harness run`, one (dataset, seed) unit each "
        "(results do not depend on it; give each train.threads: 1 on a small machine); "
        "`run --jobs N` overrides it",
    )
    claims: str | None = Field(
        None,
        description="claims file to measure and judge (harness.config.claims), relative to the "
        "study file, the working directory or the repository; default none",
    )
    suite: SuiteRef | None = Field(
        None,
        description="a benchmark suite (`suite: gue_promoters` or {name, params}): its datasets "
        "go before any the study lists; recorded so the report knows",
    )
    datasets: list[DatasetSpec] = Field(
        min_length=1, description="the data, each loaded once per seed (entries below)"
    )
    models: list[ModelSpec] = Field(
        min_length=1, description="the model variants, each run on every dataset (entries below)"
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig,
        description="how every torch model is trained; a model's own `train` overrides it",
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="MLflow store and experiment"
    )
    evaluation: EvaluationConfig = Field(
        default_factory=EvaluationConfig,
        description="what is computed on the test split after training",
    )
    report: ReportConfig = Field(
        default_factory=ReportConfig, description="the report written at the end"
    )
    tune: TuneConfig | None = Field(None, description="hyper-parameter search (`harness tune`)")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, seeds: list[Seed]) -> list[Seed]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct")
        return seeds

    @model_validator(mode="after")
    def _unique_labels(self) -> StudyConfig:
        for what, keys in (
            ("models", [m.key for m in self.models]),
            ("datasets", [d.key for d in self.datasets]),
        ):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"{what}: {dupes[0]!r} appears twice; give each a distinct label")
        labels = [m.key for m in self.models]
        for i, d in enumerate(self.datasets):
            _check_labels(f"datasets[{i}].models", d.models or [], labels)
        _check_labels("reference", [self.reference] if self.reference else [], labels)
        _check_labels("baselines", self.baselines or [], labels)
        return self


def _check_labels(where: str, names: list[str], labels: list[str]) -> None:
    """Raise when one of ``names`` is not a model label of the study."""
    for name in names:
        if name not in labels:
            raise ValueError(
                f"{where}: {name!r} is not a model label of this study "
                f"(valid: {', '.join(labels)}){suggest(name, labels)}"
            )
