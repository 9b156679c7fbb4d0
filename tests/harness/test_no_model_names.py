"""The harness never names a model: models are found through the registry, by role or by a
claims file's selectors, so a new model needs no edit to harness/.

Two checks over the AST of every module in harness/:

- no string literal (docstrings aside) equals a registered model name;
- no registered name, not even one that is also a harness word, is compared with a model's
  identity or looked up in the registry by literal (``r.model_name == "..."``,
  ``get_model("...")``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.core.registry import MODELS, load_plugins

HARNESS = Path(__file__).resolve().parents[2] / "harness"
# Registered names that are also harness vocabulary, exempt from the first check only (the second
# still forbids dispatching on them).
VOCABULARY = {
    # the constant predictor: every run's baseline_test_* metrics and the claims table's
    # "constant" column, computed by the harness itself (harness.core.metrics.constant_scores)
    "constant",
}
REGISTRY_LOOKUPS = {"get_model", "register_model"}
# What holds a model's identity in the harness: RunResult.model_name / .model, ModelSpec.name /
# .key / .label, and plain variables of those names.
IDENTITY_NAMES = {"model_name", "model", "name", "key", "label"}


def _model_names() -> set[str]:
    load_plugins()
    return set(MODELS)


def _modules() -> list[Path]:
    return sorted(HARNESS.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                found.add(id(doc.value))
    return found


def _strings(node: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def model_literals(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every non-docstring string literal that is a model name."""
    docs = _docstrings(tree)
    return [(n.lineno, n.value) for n in _strings(tree) if n.value in names and id(n) not in docs]


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _is_identity(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in IDENTITY_NAMES
    return isinstance(node, ast.Name) and node.id in IDENTITY_NAMES


def _dispatches(node: ast.AST) -> bool:
    """A comparison with a model's identity, or a registry lookup."""
    if isinstance(node, ast.Compare):
        return any(_is_identity(side) for side in [node.left, *node.comparators])
    return isinstance(node, ast.Call) and _callee(node) in REGISTRY_LOOKUPS


def dispatch_literals(tree: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of model names compared with a model's identity or looked up by name."""
    hits = []
    for node in ast.walk(tree):
        if _dispatches(node):
            hits += [(n.lineno, n.value) for n in _strings(node) if n.value in names]
    return hits


def _offences(check, names: set[str]) -> list[str]:
    out = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(HARNESS.parent)
        out += [f"{rel}:{line}: {value!r}" for line, value in check(tree, names)]
    return out


def test_the_registry_has_models_and_harness_has_modules():
    names = _model_names()
    assert {"constant", "kmer_logreg"} <= names
    assert len(_modules()) > 10


def test_no_string_literal_is_a_model_name():
    offences = _offences(model_literals, _model_names() - VOCABULARY)
    assert not offences, "model names in harness/:\n" + "\n".join(offences)


def test_no_dispatch_on_a_model_name():
    offences = _offences(dispatch_literals, _model_names())
    assert not offences, "name-based dispatch in harness/:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('def f(r):\n    return r.model_name == "attngen"\n', [(2, "attngen")]),
        ('X = {"label": "kmer_logreg"}\n', [(1, "kmer_logreg")]),
        ('def f():\n    """attngen in a docstring is prose."""\n    return 1\n', []),
        ('NAME = "attention_like"\n', []),
    ],
)
def test_the_literal_check_itself(source, expected):
    names = {"attngen", "kmer_logreg", "attention"}
    assert model_literals(ast.parse(source), names) == expected


def test_the_dispatch_check_catches_vocabulary_words():
    source = 'def f(r):\n    get_model("constant")\n    return r.model_name == "constant"\n'
    assert dispatch_literals(ast.parse(source), {"constant"}) == [(2, "constant"), (3, "constant")]
    assert dispatch_literals(ast.parse('ok = name in ("constant",)\n'), {"constant"}) == [
        (1, "constant")
    ]
    # the word in its other senses: a column name, a learning-rate schedule
    assert dispatch_literals(ast.parse('COLUMNS = ["constant"]\n'), {"constant"}) == []
    assert dispatch_literals(ast.parse('x = cfg.schedule == "constant"\n'), {"constant"}) == []
