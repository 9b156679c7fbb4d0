"""Reading a study: YAML -> :class:`StudyConfig`, every parameter block checked against the
registered adapter's or model's schema, a ``tune`` section resolved and a claims file validated,
before any work starts. Also the study's roles: its reference model and its baselines."""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.config.claims import ClaimSet, RunSelector
from harness.config.study import SAFE_NAME, ModelSpec, StudyConfig, SuiteRef, TrainConfig
from harness.config.suites import SuiteFile, expand_suite, suite_path
from harness.config.tune import validate_tune
from harness.core.errors import UserError
from harness.core.registry import Params, get_adapter, get_model, suggest

# harness/config/load.py -> the checkout, where studies/claims/ lives (a fallback for claims paths)
REPO_ROOT = Path(__file__).resolve().parents[2]


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: PyYAML would keep the
    last one silently, and a study's second ``train:`` would quietly replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        self.flatten_mapping(node)  # YAML merge keys (`<<: *base`) first, as SafeLoader does
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(text: str, where: Path) -> Any:
    """Parse YAML text; a syntax error or a duplicate key is a one-line :class:`UserError`
    naming ``where`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else str(where)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{at}: malformed YAML: {problem}") from None
    except RecursionError:
        raise UserError(f"{where}: malformed YAML: nested too deeply") from None


def _loc(loc: tuple) -> str:
    """``datasets[0].params.n``; a key with a newline or other unprintable character quoted
    (``motifs.'\\n'``), so the message stays one line."""
    out = ""
    for part in loc:
        name = str(part) if str(part).isprintable() else repr(str(part))
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic class that owns the key at ``loc`` (for 'did you mean' suggestions)."""
    cls: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if (
            not (isinstance(cls, type) and issubclass(cls, BaseModel))
            or part not in cls.model_fields
        ):
            return None
        ann = cls.model_fields[part].annotation
        while typing.get_origin(ann) in (list, typing.Union, types.UnionType, dict):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            ann = args[-1]
        cls = ann
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def format_validation_error(err: ValidationError, root: type[BaseModel], prefix: tuple = ()) -> str:
    """One line per the first error: ``key.path: message``, with suggestions for unknown keys."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    path = _loc(prefix + loc)
    if first["type"] == "extra_forbidden":
        owner = _model_at(root, loc)
        valid = sorted(owner.model_fields) if owner else []
        hint = suggest(str(loc[-1]), valid)
        msg = f"{path}: unknown parameter{hint}" + (
            f" (valid: {', '.join(valid)})" if valid else ""
        )
    elif first["type"] == "missing":
        msg = f"{path}: required key is missing"
    elif first.get("ctx", {}).get("pattern") == SAFE_NAME:
        msg = (
            f"{path}: {first['input']!r} is not a safe name (letters, digits and ._- only, no "
            "leading dot, at most 64 characters: it becomes a folder and a metric name)"
        )
    else:
        given = first.get("input")
        text = first["msg"].removeprefix("Value error, ")
        # our own validators (value_error) already name the value; pydantic's messages do not
        quiet = first["type"] == "value_error" or isinstance(given, dict | list)
        shown = "" if quiet else f" (got {given!r})"
        msg = f"{path}: {text}{shown}" if path else text
    more = len(err.errors()) - 1
    return msg + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def validate_params(schema: type[Params], params: dict[str, Any], prefix: tuple) -> Params:
    """Validate an adapter's or model's params against its own schema, errors with full path."""
    try:
        return schema.model_validate(params)
    except ValidationError as err:
        raise UserError(format_validation_error(err, schema, prefix)) from None


def parse_study(data: Any, source: str = "study", base: str | Path | None = None) -> StudyConfig:
    """Validate a study mapping completely: structure, registry names, every params block and
    the claims file; the returned study names its reference and its claims file resolved.

    Parameters
    ----------
    data : the study mapping (parsed YAML)
    source : the study's name in error messages (its file path)
    base : directory a relative ``claims`` path is looked up in first (the study file's)
    """
    if not isinstance(data, dict):
        raise UserError(
            f"{source}: the study must be a mapping of keys (name, datasets, models, ...)"
        )
    try:
        data = with_suite(data)
    except UserError as err:
        raise UserError(f"{source}: {err}") from None
    try:
        study = StudyConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{source}: {format_validation_error(err, StudyConfig)}") from None
    try:
        _validate_plugins(study)
        claims = resolve_claims_path(study.claims, base) if study.claims else None
    except UserError as err:
        raise UserError(f"{source}: {err}") from None
    if claims is not None:
        load_claims(claims)  # its own errors name the claims file and the key
    return study.model_copy(
        update={
            "reference": study_reference(study),
            "claims": _portable(claims),
            "models": [with_train_defaults(study, m) for m in study.models],
        }
    )


def with_suite(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its ``suite``'s datasets written into ``datasets``; unchanged without one
    (:func:`harness.config.suites.expand_suite`)."""
    if data.get("suite") is None:
        return data
    try:
        ref = SuiteRef.model_validate(data["suite"])
    except ValidationError as err:
        raise UserError(format_validation_error(err, SuiteRef, ("suite",))) from None
    return expand_suite(data, ref, load_suite(ref.name))


def load_suite(name: str) -> SuiteFile:
    """Read and validate ``studies/suites/<name>.yaml``; a one-line :class:`UserError` naming
    the file and key, or the valid suites for an unknown name."""
    path = suite_path(name)
    data = read_yaml(read_yaml_text(path, "suite"), path)
    try:
        return SuiteFile.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{path}: {format_validation_error(err, SuiteFile)}") from None


def with_train_defaults(study: StudyConfig, spec: ModelSpec) -> ModelSpec:
    """``spec`` with its model class's ``train_defaults`` written into ``spec.train``.

    Precedence, lowest first: :class:`TrainConfig` defaults, the model's ``train_defaults`` (e.g. a
    warmup + cosine schedule for the new transformers; none for the seed reproductions), the
    study's ``train`` keys the user wrote, the model's own ``train`` overrides. Written into the
    spec at load time, so the resolved study logged to MLflow shows what each model trained with
    and a re-parsed copy (worker processes, confirm runs) trains the same way.
    """
    defaults = getattr(get_model(spec.name).factory, "train_defaults", {})
    chosen = study.train.model_fields_set
    inherited = {k: v for k, v in defaults.items() if k not in chosen and k not in spec.train}
    return spec.model_copy(update={"train": {**inherited, **spec.train}}) if inherited else spec


def _validate_plugins(study: StudyConfig) -> None:
    """Every adapter and model name registered, every params block valid, the tune plan too."""
    for i, d in enumerate(study.datasets):
        entry = get_adapter(d.adapter)
        params = validate_params(entry.params, d.params, ("datasets", i, "params"))
        check_memory(params, f"datasets[{i}].params")
    for i, m in enumerate(study.models):
        entry = get_model(m.name)
        validate_params(entry.params, m.params, ("models", i, "params"))
        merged = {**study.train.model_dump(), **m.train}
        try:
            TrainConfig.model_validate(merged)
        except ValidationError as err:
            raise UserError(
                format_validation_error(err, TrainConfig, ("models", i, "train"))
            ) from None
    if study.tune is not None:
        validate_tune(study)


def available_memory() -> int:
    """Bytes this machine can still give (``MemAvailable``; physical memory where unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(params: Params, where: str) -> None:
    """Refuse a dataset whose adapter estimates (``Params.estimated_bytes()``) more memory than
    the machine has available, with the estimate, before minutes of generation end in a crash."""
    estimate = getattr(params, "estimated_bytes", None)
    if estimate is None:
        return
    need, have = estimate(), available_memory()
    if need > have:
        raise UserError(
            f"{where}: this dataset needs about {need / 2**30:.3g} GiB in memory and the machine "
            f"has {have / 2**30:.3g} GiB available; make it smaller (n, length)"
        )


def read_yaml_text(path: Path, what: str = "study") -> str:
    """A YAML file's text, or a one-line :class:`UserError` (missing, a folder, binary, NUL)."""
    if not path.is_file():
        raise UserError(f"{path}: no such {what} file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{path}: not a text YAML file (byte {err.start} is not UTF-8); give the {what} YAML"
        ) from None
    except OSError as err:
        raise UserError(f"{path}: cannot read the {what} file: {err.strerror}") from None
    if "\x00" in text:
        raise UserError(f"{path}: not a text YAML file (it holds NUL bytes); give the {what} YAML")
    return text


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file; every problem is a one-line :class:`UserError`."""
    path = Path(path)
    text = read_yaml_text(path)
    return parse_study(read_yaml(text, path), str(path), base=path.parent)


def model_train_config(study: StudyConfig, spec: ModelSpec) -> TrainConfig:
    """The study's train settings with the model's own overrides applied."""
    return TrainConfig.model_validate({**study.train.model_dump(), **spec.train})


# ------------------------------------------------------------------------------------- roles
def model_role(name: str) -> str | None:
    """The role a registered model's class declares (``"baseline"``, ``"reference"``) or None."""
    return getattr(get_model(name).factory, "role", None)


def study_reference(study: StudyConfig) -> str:
    """The model label others are compared against: the study's ``reference``, else the first
    model whose class declares role ``"reference"``, else the first model that is not a
    baseline (a comparison against a constant predictor says little), else the first model."""
    if study.reference is not None:
        return study.reference
    roles = [(m.key, model_role(m.name)) for m in study.models]
    for wanted in ("reference", None):
        for key, role in roles:
            if role == wanted:
                return key
    return study.models[0].key


def study_baselines(study: StudyConfig) -> list[str]:
    """Model labels every model is judged against in the report: the study's ``baselines``,
    else its models whose class declares role ``"baseline"`` (in study order)."""
    if study.baselines is not None:
        return list(study.baselines)
    return [m.key for m in study.models if model_role(m.name) == "baseline"]


# ------------------------------------------------------------------------------------ claims
def resolve_claims_path(path: str | Path, base: str | Path | None = None) -> Path:
    """A claims file path: absolute, else relative to ``base`` (the study file's directory),
    the working directory or the repository, the first that exists."""
    given = Path(path)
    if given.is_absolute():
        candidates = [given]
    else:
        roots = [Path(base)] if base is not None else []
        candidates = [root / given for root in [*roots, Path.cwd(), REPO_ROOT]]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise UserError(f"claims: no such claims file {str(path)!r} (tried {tried})")


def _portable(path: Path | None) -> str | None:
    # Relative to the repository when inside it, so a logged study resolves on another checkout.
    if path is None:
        return None
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_claims(path: str | Path, base: str | Path | None = None) -> ClaimSet:
    """Read and validate a claims file; every problem is a one-line :class:`UserError` naming
    the file and the key (``<file>: claims[3] (id).runs[0].model: ...``)."""
    resolved = resolve_claims_path(path, base)
    return parse_claims(read_yaml(read_yaml_text(resolved, "claims"), resolved), str(resolved))


def parse_claims(data: Any, source: str = "claims") -> ClaimSet:
    """Validate a claims mapping: structure (:class:`ClaimSet`) and registry names."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a claims file is a mapping with a `claims:` list")
    try:
        claim_set = ClaimSet.model_validate(data)
    except ValidationError as err:
        msg = format_validation_error(err, ClaimSet)
        raise UserError(f"{source}: {_name_claim(msg, err, data)}") from None
    for i, claim in enumerate(claim_set.claims):
        selectors = {"runs": claim.runs, "reference": claim.reference or []}
        try:
            for field, alternatives in selectors.items():
                for j, sel in enumerate(alternatives):
                    _check_selector(sel, f"{field}[{j}]")
            for j, dsel in enumerate(claim.dataset):
                if dsel.adapter is not None:
                    _registered(get_adapter, dsel.adapter, f"dataset[{j}].adapter")
        except UserError as err:
            raise UserError(f"{source}: claims[{i}] ({claim.id}).{err}") from None
    return claim_set


def _name_claim(msg: str, err: ValidationError, data: dict) -> str:
    # `claims[3].runs: ...` -> `claims[3] (savings_5).runs: ...`: the id is what users search for
    loc = err.errors()[0]["loc"]
    claims = data.get("claims")
    if len(loc) > 1 and loc[0] == "claims" and isinstance(loc[1], int) and isinstance(claims, list):
        entry = claims[loc[1]] if loc[1] < len(claims) else None
        if isinstance(entry, dict) and "id" in entry:
            prefix = f"claims[{loc[1]}]"
            return msg.replace(prefix, f"{prefix} ({entry['id']})", 1)
    return msg


def _check_selector(sel: RunSelector, where: str) -> None:
    """A run selector names a registered model, and only params that model has."""
    if sel.model is None:
        return
    entry = _registered(get_model, sel.model, f"{where}.model")
    valid = sorted(entry.params.model_fields)
    for key in sel.params:
        if key not in valid:
            raise UserError(
                f"{where}.params.{key}: not a parameter of {sel.model}{suggest(key, valid)} "
                f"(valid: {', '.join(valid)})"
            )


def _registered(get: Any, name: str, where: str) -> Any:
    try:
        return get(name)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


def study_claims(study: StudyConfig) -> ClaimSet | None:
    """The study's validated claims, or None when it names no claims file."""
    return load_claims(study.claims) if study.claims else None
