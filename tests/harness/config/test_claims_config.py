"""Claims files and study roles: a bad claims file is one line naming the file, the claim and the
key, before any work; reference and baselines come from the study or the models' declared roles."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from harness.config.claims import ClaimSet
from harness.config.load import (
    REPO_ROOT,
    load_claims,
    load_study,
    parse_claims,
    parse_study,
    study_baselines,
    study_claims,
    study_reference,
)
from harness.core.errors import UserError
from harness.core.registry import MODELS, load_plugins

SEED_CLAIMS = REPO_ROOT / "studies" / "claims" / "seed_claims.yaml"
STUDY = {
    "name": "t",
    "seeds": [0],
    "datasets": [{"adapter": "synthetic_motifs", "params": {"n": 100, "length": 40}}],
    "models": [{"name": "constant"}, {"name": "attention"}, {"name": "gb_cnn"}],
}
CLAIM = {
    "id": "c1",
    "claim": "sparse keeps most of it",
    "source": {"file": "sparse-attention-paper.md", "section": "§4.2"},
    "kind": "retention",
    "direction": "at_least",
    "value": 0.9,
    "margin": 0.0005,
    "runs": {"model": "sparse_attention", "params": {"sparsity": 0.1}},
    "reference": {"model": "attention"},
    "metric": "test_pearson",
}


def claim_error(**changes) -> str:
    """The one-line error for CLAIM with ``changes`` (None removes a key)."""
    claim = {k: v for k, v in {**copy.deepcopy(CLAIM), **changes}.items() if v is not None}
    with pytest.raises(UserError) as info:
        parse_claims({"claims": [claim]}, "c.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("c.yaml: claims[0]")
    return message


# ------------------------------------------------------------------------------ claims files
def test_the_seed_claims_file_validates():
    claims = load_claims(SEED_CLAIMS)
    assert isinstance(claims, ClaimSet) and len(claims.claims) == 26
    tradeoff = next(c for c in claims.claims if c.id == "attngen_tradeoff")
    assert tradeoff.value == (0.1, 0.2) and tradeoff.direction == "in_range"
    assert [d.tasks for d in tradeoff.dataset] == [
        ("binary", "multiclass"),
        ("binary", "multiclass"),
        ("regression",),
    ]


def test_a_good_claim_parses_with_single_selectors_as_lists():
    claim = parse_claims({"claims": [CLAIM]}).claims[0]
    assert claim.runs[0].model == "sparse_attention" and claim.runs[0].params == {"sparsity": 0.1}
    assert claim.reference is not None and claim.reference[0].model == "attention"
    assert claim.dataset[0].describe() == "any dataset"
    assert claim.printed == ">= 0.9" and str(claim.source) == "sparse-attention-paper.md §4.2"


def test_unknown_kind_lists_the_valid_ones():
    msg = claim_error(kind="retension")
    assert "claims[0] (c1).kind" in msg and "unknown kind 'retension'" in msg
    assert "retention" in msg and "ablation_drop" in msg


def test_a_kind_needs_its_fields_and_reads_no_others():
    assert "kind 'retention' needs reference" in claim_error(reference=None)
    assert "kind 'retention' does not read masked" in claim_error(masked=10)


def test_unknown_key_is_named_with_a_suggestion():
    msg = claim_error(metirc="test_mse")
    assert "claims[0] (c1).metirc: unknown parameter; did you mean 'metric'?" in msg


def test_unknown_model_and_param_in_a_selector():
    msg = claim_error(runs={"model": "sparse_atention"})
    assert "claims[0] (c1).runs[0].model: unknown model 'sparse_atention'" in msg
    assert "did you mean 'sparse_attention'?" in msg
    msg = claim_error(reference=[{"model": "attention", "params": {"sparsty": 0.1}}])
    assert "reference[0].params.sparsty: not a parameter of attention" in msg
    assert "unknown adapter 'synthetic'" in claim_error(dataset={"adapter": "synthetic"})


def test_a_selector_names_a_model_or_a_label():
    assert "exactly one of 'model'" in claim_error(runs={"model": "attention", "label": "x"})
    assert "exactly one of 'model'" in claim_error(runs={"params": {"sparsity": 0.1}})


def test_value_must_fit_the_direction():
    assert "in_range" in claim_error(direction="in_range")
    assert "low > high" in claim_error(direction="in_range", value=[0.3, 0.1])
    assert "in_range" in claim_error(value=[0.1, 0.2])
    assert "claims[0] (c1).margin" in claim_error(margin=-1)
    assert "claims[0] (c1).direction" in claim_error(direction="atleast")


def test_metric_keys_are_keys():
    assert "not a metric key" in claim_error(metric="test pearson")


def test_ids_are_distinct():
    with pytest.raises(UserError, match="id 'c1' appears twice"):
        parse_claims({"claims": [CLAIM, CLAIM]}, "c.yaml")


def test_not_a_mapping_or_no_claims():
    with pytest.raises(UserError, match=r"c\.yaml: a claims file is a mapping"):
        parse_claims([CLAIM], "c.yaml")
    with pytest.raises(UserError, match=r"c\.yaml: claims:"):
        parse_claims({"claims": []}, "c.yaml")


def test_malformed_claims_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("claims:\n  - id: [x\n")
    with pytest.raises(UserError, match=r"bad\.yaml:\d+: malformed YAML"):
        load_claims(path)


# ------------------------------------------------------------------------------ in a study
def test_a_study_names_its_claims_file_relative_to_the_repository():
    study = parse_study({**STUDY, "claims": "studies/claims/seed_claims.yaml"})
    assert study.claims == "studies/claims/seed_claims.yaml"  # portable: repo-relative
    claims = study_claims(study)
    assert claims is not None and len(claims.claims) == 26


def test_a_claims_path_relative_to_the_study_file(tmp_path):
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({"claims": [CLAIM]}))
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "claims": "mine.yaml"}))
    study = load_study(path)
    assert Path(study.claims) == (tmp_path / "mine.yaml").resolve()
    assert [c.id for c in study_claims(study).claims] == ["c1"]


def test_a_bad_claims_file_fails_the_study_before_any_work(tmp_path):
    claim = {**CLAIM, "kind": "nope"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"claims": [claim]}))
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, "claims": "bad.yaml"}))
    with pytest.raises(UserError) as info:
        load_study(path)
    assert "bad.yaml: claims[0] (c1).kind: " in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_claims_file_is_named():
    with pytest.raises(UserError, match=r"s\.yaml: claims: no such claims file 'nowhere\.yaml'"):
        parse_study({**STUDY, "claims": "nowhere.yaml"}, "s.yaml")


def test_studies_without_claims_have_none():
    study = parse_study(STUDY)
    assert study.claims is None and study_claims(study) is None


def test_report_claims_says_where_the_setting_went():
    with pytest.raises(UserError, match=r"report\.claims was replaced by a top-level `claims:"):
        parse_study({**STUDY, "report": {"claims": True}}, "s.yaml")


# ------------------------------------------------------------------------------------ roles
def test_registered_baselines_declare_their_role():
    load_plugins()
    roles = {name: getattr(entry.factory, "role", None) for name, entry in MODELS.items()}
    assert {n for n, r in roles.items() if r == "baseline"} >= {"constant", "kmer_logreg", "gb_cnn"}
    assert roles["sparse_attention"] is None
    assert set(roles.values()) <= {None, "baseline", "reference"}


def test_baselines_default_to_the_models_declaring_the_role():
    study = parse_study(STUDY)
    assert study_baselines(study) == ["constant", "gb_cnn"]
    study = parse_study({**STUDY, "baselines": ["constant"]})
    assert study_baselines(study) == ["constant"]
    assert study_baselines(parse_study({**STUDY, "baselines": []})) == []


def test_baselines_and_reference_must_be_model_labels():
    with pytest.raises(UserError, match="baselines: 'kmer' is not a model label"):
        parse_study({**STUDY, "baselines": ["kmer"]}, "s.yaml")
    with pytest.raises(UserError, match=r"reference: 'atention' is not a model label.*attention"):
        parse_study({**STUDY, "reference": "atention"}, "s.yaml")


def test_reference_defaults_to_the_first_model_that_is_not_a_baseline():
    study = parse_study(STUDY)
    assert study.reference == "attention"  # constant comes first but is a baseline
    assert parse_study({**STUDY, "reference": "gb_cnn"}).reference == "gb_cnn"
    only_baselines = {**STUDY, "models": [{"name": "kmer_logreg"}, {"name": "constant"}]}
    assert parse_study(only_baselines).reference == "kmer_logreg"


def test_a_model_declaring_the_reference_role_is_the_default(monkeypatch):
    load_plugins()
    monkeypatch.setattr(MODELS["gb_cnn"].factory, "role", "reference")
    assert parse_study(STUDY).reference == "gb_cnn"
    study = parse_study({**STUDY, "reference": "attention"})
    assert study_reference(study) == "attention"  # an explicit reference wins
