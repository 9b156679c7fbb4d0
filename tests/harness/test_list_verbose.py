"""``harness list -v``: each adapter's and model's params with type, default, range, meaning."""

from __future__ import annotations

from harness.__main__ import main


def test_list_verbose_shows_meaning_and_range_per_parameter(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line, so a row can be read whole
    assert main(["list", "-v"]) == 0
    listing = capsys.readouterr().out
    rows = [line for line in listing.splitlines() if "│" in line]
    max_val = next(r for r in rows if r.split("│")[1].strip() == "max_val")
    assert "int | null" in max_val and "x ≥ 2" in max_val and "validation sequences" in max_val
    k = next(r for r in rows if r.split("│")[1].strip() == "k")
    assert "1 ≤ x ≤ 10" in k and "k-mer length" in k
    selector = next(r for r in rows if r.split("│")[1].strip() == "selector_training")
    assert "response, attribution" in selector  # Literal choices
    for title in ("adapter fasta", "model gb_cnn", "model constant"):
        assert title in listing
    assert "role: baseline" in listing and "seed reproduction:" in listing
    assert "train defaults:" in listing  # the transformers' own schedule


def test_list_without_verbose_is_the_summary_grid(capsys):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "parameters (default)" in listing and "allowed" not in listing
