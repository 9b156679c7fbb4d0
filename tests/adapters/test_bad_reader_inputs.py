"""Malformed FASTA, gzip, CSV and TSV inputs through the CLI: each is refused by ``harness run``
as one line naming the file and line (exit 2, no traceback), before anything is written
(``tests/refusals.py``). Config mistakes of the same adapters are refused by ``harness validate``.
Good inputs, and ``missing_labels: drop``, still load."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from adapters.synthetic_motifs import SyntheticMotifsParams
from tests.refusals import assert_refused

# Distinct 12-bp sequences (label alternating 0/1), so nothing trips the leakage warnings.
BASES = np.array(list("ACGT"))
SEQS = ["".join(BASES[np.random.default_rng(i).integers(0, 4, 12)]) for i in range(40)]
VALID = r"\(valid: A, C, G, T, N in either case, and the IUPAC ambiguity codes .* read as N"


def fasta(n: int = 12, width: int = 12) -> bytes:
    """``n`` records of 12 bp, wrapped at ``width`` bases a line."""
    lines = []
    for i, s in enumerate(SEQS[:n]):
        lines += [f">s{i} class={i % 2}", *(s[k : k + width] for k in range(0, len(s), width))]
    return ("\n".join(lines) + "\n").encode()


def table(n: int = 12, sep: str = ",", label=lambda i: str(i % 2)) -> bytes:
    """A header and ``n`` rows of sequence and label."""
    rows = ["sequence", "label"], *([SEQS[i], label(i)] for i in range(n))
    return "".join(sep.join(r) + "\n" for r in rows).encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def corrupt(data: bytes) -> bytes:
    """A gzip stream with its compressed body overwritten a few bytes in."""
    packed = bytearray(gz(data))
    packed[12:40] = b"\xff" * 28
    return bytes(packed)


def study(root: Path, dataset: dict[str, Any]) -> Path:
    """A one-dataset study with the ``constant`` model (nothing to train when data loads)."""
    spec = {
        "name": "bad_input",
        "seeds": [0],
        "datasets": [dataset],
        "models": [{"name": "constant"}],
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def write(root: Path, name: str, data: bytes) -> Path:
    folder = root / "in"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------
# FASTA (the bad file is the positives; the negatives are good)

GOOD_FA = fasta()
# A repetitive payload big enough that half of the gzip stream still holds whole lines.
BIG_FA = b"".join(f">r{i}\n{SEQS[i % 40]}\n".encode() for i in range(2000))

FASTA_CASES = [
    ("empty", "x.fa", b"", r"x\.fa: no FASTA records \(empty file"),
    ("blank_lines_only", "x.fa", b"\n  \n\n", r"x\.fa: no FASTA records"),
    ("no_header", "x.fa", b"ACGTACGTACGT\nACGTACGTACGT\n", r"x\.fa line 1: expected a '>' header"),
    (
        "comment_before_header",
        "x.fa",
        b"# exported by tool\n" + GOOD_FA,
        r"x\.fa line 1: expected a '>' header, found '# exported by tool'",
    ),
    ("sequence_before_header", "x.fa", b"\n\nACGT\n" + GOOD_FA, r"x\.fa line 3: expected a '>'"),
    ("fastq", "x.fa", b"@r1\nACGTACGTACGT\n+\nIIIIIIIIIIII\n", r"line 1: .*a FASTQ file\?"),
    (
        "empty_record",
        "x.fa",
        b">a\nACGTACGTACGT\n>b\n>c\nACGTACGTACGT\n",
        r"x\.fa line 3 \(record 2, b\): empty sequence",
    ),
    ("headers_only", "x.fa", b">a\n>b\n>c\n", r"line 1 \(record 1, a\): empty sequence \(3 empty"),
    (
        "bad_char_wrapped_line",
        "x.fa",
        b">a\nACGTA\nCGTAC\nGT\n>b\nACGTA\nCGXAC\nGT\n",
        r"x\.fa line 7 \(record 2, b\): invalid character 'X' at column 3 " + VALID,
    ),
    ("gap", "x.fa", b">a\nACGT-CGTACGT\n", r"line 2 \(record 1, a\): invalid character '-' at col"),
    ("rna", "x.fa", b">a\nACGUACGUACGU\n", r"invalid character 'U' at column 4"),
    ("tab_in_sequence", "x.fa", b">a\nACGT\tACGTACGT\n", r"line 2 .*invalid character '\\t'"),
    ("non_ascii_base", "x.fa", ">a\nACGTÄCGTACGT\n".encode(), r"invalid character 'Ä' at column 5"),
    ("nul_byte", "x.fa", b">a\nACG\x00ACGTACGT\n", r"invalid character '\\x00'"),
    ("latin1_header", "x.fa", b">caf\xe9\nACGTACGTACGT\n", r"x\.fa line 1: not UTF-8 .*0xe9"),
    ("utf16", "x.fa", GOOD_FA.decode().encode("utf-16"), r"x\.fa line 1: not UTF-8 text"),
    ("binary", "x.fa", bytes(range(256)) * 8, r"x\.fa line \d+: not UTF-8 text"),
    ("corrupt_gz", "x.fa.gz", corrupt(BIG_FA), r"x\.fa\.gz line \d+: corrupt gzip data \(zlib"),
    (
        "truncated_gz",
        "x.fa.gz",
        gz(BIG_FA)[: len(gz(BIG_FA)) // 2],
        r"x\.fa\.gz line \d{3,}: truncated gzip file",
    ),
    ("gz_magic_only", "x.fa.gz", b"\x1f\x8b", r"x\.fa\.gz line 1: truncated gzip file"),
    ("gz_trailing_junk", "x.fa.gz", gz(GOOD_FA) + b"junk", r"line 25: corrupt gzip .*BadGzipFile"),
    ("gz_of_nothing", "x.fa.gz", gz(b""), r"x\.fa\.gz: no FASTA records"),
    ("gz_bad_char", "x.fa.gz", gz(b">a\nACGTNNXCGTAC\n"), r"x\.fa\.gz line 2 .*'X' at column 7"),
    (
        "ragged_lengths",
        "x.fa",
        GOOD_FA + b">short\nACGTAC\n",
        r"x\.fa line 25 \(record 13, short\): length 6 differs from 12.*length_policy",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "match"),
    [pytest.param(*case[1:], id=case[0]) for case in FASTA_CASES],
)
def test_malformed_fasta_is_refused(tmp_path, capsys, name, data, match):
    bad = write(tmp_path, name, data)
    good = write(tmp_path, "good.fa", GOOD_FA)
    path = study(
        tmp_path, {"adapter": "fasta", "params": {"positives": str(bad), "negatives": str(good)}}
    )
    assert_refused(["run", str(path), "--no-progress"], capsys, tmp_path, match=match)


def test_header_without_label_is_refused_with_its_line(tmp_path, capsys):
    data = fasta().replace(b">s5 class=1", b">s5 kind=1")
    params = {"path": str(write(tmp_path, "x.fa", data)), "label_pattern": r"class=(\d)"}
    path = study(tmp_path, {"adapter": "fasta", "params": params})
    match = r"x\.fa line 11 \(record 6, s5\): header does not match label_pattern"
    assert_refused(["run", str(path), "--no-progress"], capsys, tmp_path, match=match)


# ---------------------------------------------------------------------------------------------
# CSV / TSV (test_fraction splits the one file unless a case names its own split)

GOOD_CSV = table()
BIG_CSV = table(40) * 40
SPLIT_HEADER = b"sequence,label,split\n"

TABLE_CASES = [
    ("empty", "t.csv", b"", {}, r"t\.csv: empty file"),
    ("blank_lines_only", "t.csv", b"\n\n\n", {}, r"t\.csv: empty file"),
    ("header_only", "t.csv", b"sequence,label\n", {}, r"t\.csv: the table has no rows"),
    (
        "duplicated_column",
        "t.csv",
        b"sequence,label,label\n" + b"ACGTACGTACGT,0,1\n" * 4,
        {},
        r"t\.csv line 1: column name 'label' appears twice in the header \(columns 2 and 3\)",
    ),
    (
        "no_label_column",
        "t.csv",
        GOOD_CSV.replace(b"label", b"target", 1),
        {},
        r"t\.csv: no label column 'label' \(columns: 'sequence', 'target'\)",
    ),
    (
        "no_sequence_column",
        "t.tsv",
        table(sep="\t").replace(b"sequence", b"seq", 1),
        {},
        r"t\.tsv: no sequence column 'sequence' \(columns: 'seq', 'label'\)",
    ),
    (
        "tabs_in_a_csv",
        "t.csv",
        table(sep="\t"),
        {},
        r"t\.csv: no sequence column 'sequence' \(columns: 'sequence\\tlabel'\); .*separator right",
    ),
    (
        "ragged_extra_field",
        "t.csv",
        GOOD_CSV + b"ACGTACGTACGT,1,oops\n",
        {},
        r"t\.csv line 14: 3 field\(s\), but the header \(line 1\) has 2",
    ),
    (
        "ragged_missing_field",
        "t.csv",
        SPLIT_HEADER + b"ACGTACGTACGT,1,train\nACGTACGTACGA,0\n",
        {"split_column": "split"},
        r"t\.csv line 3: 2 field\(s\), but the header \(line 1\) has 3",
    ),
    (
        "unclosed_quote",
        "t.csv",
        GOOD_CSV + b'"ACGTACGTACGT,1\n' + GOOD_CSV,
        {},
        r"t\.csv line 14: cannot parse .*unclosed or stray quote",
    ),
    (
        "empty_sequence",
        "t.csv",
        GOOD_CSV + b",1\n,0\n",
        {},
        r"t\.csv line 14: empty sequence \(2 empty records in all\)",
    ),
    (
        "bad_character",
        "t.tsv",
        table(sep="\t") + b"ACGT-ACGTACG\t1\n",
        {},
        r"t\.tsv line 14: invalid character '-' at position 5 " + VALID,
    ),
    (
        "empty_label",
        "t.csv",
        GOOD_CSV + b"ACGTACGTACGT,\n",
        {},
        r"t\.csv line 14: no label in column 'label' \(empty, NA or NaN; 1 row in all\)",
    ),
    (
        "many_missing_labels",
        "t.csv",
        table(label=lambda i: ["NA", "NaN", " ", "1", "0"][i % 5]),
        {},
        r"t\.csv lines 2, 3, 4, 7, 8 and 3 more: no label .*8 rows in all.*missing_labels: drop",
    ),
    (
        "regression_text_label",
        "t.csv",
        table(label=lambda i: "high" if i == 3 else f"{i / 10}"),
        {"task": "regression"},
        r"t\.csv line 5: label 'high' is not a number \(task: regression",
    ),
    (
        "regression_nan_label",
        "t.csv",
        table(label=lambda i: "nan" if i == 3 else f"{i / 10}"),
        {"task": "regression"},
        r"t\.csv line 5: no label in column 'label'",
    ),
    (
        "regression_inf_label",
        "t.csv",
        table(label=lambda i: "-inf" if i == 3 else f"{i / 10}"),
        {"task": "regression"},
        r"t\.csv line 5: label '-inf' is not a finite number",
    ),
    (
        "latin1",
        "t.csv",
        GOOD_CSV + b"ACGTACGTACGT,caf\xe9\n",
        {},
        r"t\.csv line 14: not UTF-8 text \(byte 0xe9 at column 17\)",
    ),
    ("utf16", "t.csv", GOOD_CSV.decode().encode("utf-16"), {}, r"t\.csv line 1: not UTF-8"),
    ("corrupt_gz", "t.csv.gz", corrupt(BIG_CSV), {}, r"t\.csv\.gz line \d+: corrupt gzip data"),
    (
        "truncated_gz",
        "t.tsv.gz",
        gz(table(40, sep="\t") * 40)[:-40],
        {},
        r"t\.tsv\.gz line \d{3,}: truncated gzip file",
    ),
    (
        "unknown_split",
        "t.csv",
        SPLIT_HEADER + b"ACGTACGTACGT,1,train\nACGTACGTACGA,0,holdout\n",
        {"split_column": "split"},
        r"t\.csv line 3: unknown split value\(s\) \['holdout'\] .*\(valid: dev, test",
    ),
    (
        "label_not_a_class",
        "t.csv",
        GOOD_CSV + b"ACGTACGTACGT,2\n",
        {"classes": ["0", "1"]},
        r"t\.csv line 14: label '2' is not one of the classes \['0', '1'\]",
    ),
    (
        "one_class",
        "t.csv",
        table(label=lambda i: "1"),
        {},
        r"t\.csv: found 1 class\(es\); classification needs at least 2",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "params", "match"),
    [pytest.param(*case[1:], id=case[0]) for case in TABLE_CASES],
)
def test_malformed_table_is_refused(tmp_path, capsys, name, data, params, match):
    split = params if "split_column" in params else {"test_fraction": 0.25, **params}
    path = study(
        tmp_path,
        {"adapter": "table", "params": {"path": str(write(tmp_path, name, data)), **split}},
    )
    assert_refused(["run", str(path), "--no-progress"], capsys, tmp_path, match=match)


# ---------------------------------------------------------------------------------------------
# Config mistakes, refused by `validate` before any file is read

CONFIG_CASES = [
    (
        "table_sep_two_chars",
        "table",
        {"path": "t.csv", "test_fraction": 0.2, "sep": ";;"},
        r"sep must be one character",
    ),
    (
        "table_missing_labels_choice",
        "table",
        {"path": "t.csv", "test_fraction": 0.2, "missing_labels": "skip"},
        r"missing_labels: Input should be 'error' or 'drop'",
    ),
    (
        "table_pad_length_huge",
        "table",
        {"path": "t.csv", "test_fraction": 0.2, "length": 1e9},
        r"length: .*less than or equal to 10000000",
    ),
    (
        "motifs_n_float_huge",
        "synthetic_motifs",
        {"n": 1e12},
        r"params\.n: .*less than or equal to 10000000",
    ),
    (
        "motifs_n_text_1e12",
        "synthetic_motifs",
        {"n": "1e12"},
        r"params\.n: Input should be a valid integer",
    ),
    ("motifs_n_fraction", "synthetic_motifs", {"n": 100.5}, r"params\.n: .*fractional part"),
    (
        "motifs_length_huge",
        "synthetic_motifs",
        {"length": 10**9},
        r"params\.length: .*less than or equal to",
    ),
]


@pytest.mark.parametrize(
    ("adapter", "params", "match"),
    [pytest.param(*case[1:], id=case[0]) for case in CONFIG_CASES],
)
def test_config_mistake_is_refused_by_validate(tmp_path, capsys, adapter, params, match):
    path = study(tmp_path, {"adapter": adapter, "params": params})
    assert_refused(["validate", str(path)], capsys, tmp_path, match=match)


def test_motifs_estimated_bytes_grows_with_size():
    small = SyntheticMotifsParams(n=100, length=50).estimated_bytes()
    big = SyntheticMotifsParams(n=10_000_000, length=10_000_000).estimated_bytes()
    assert 100 * 50 < small < 10**7
    assert big > 10**14  # far above any machine: the config layer refuses it with this figure


# ---------------------------------------------------------------------------------------------
# What is accepted


def test_missing_labels_drop_drops_and_counts(tmp_path, load_adapter):
    data = table(40, label=lambda i: "NA" if i % 10 == 3 else ("" if i == 5 else str(i % 2)))
    path = write(tmp_path, "t.csv", data)
    ds = load_adapter("table", path=str(path), test_fraction=0.25, missing_labels="drop")
    assert len(ds.labels) == 35 and ds.meta["dropped_missing_labels"] == 5
    assert ds.meta["class_names"] == ["0", "1"]  # NA never became a class
    kept = {int(i.split(":")[1]) for i in ds.ids}
    assert kept == {k + 2 for k in range(40)} - {5, 7, 15, 25, 35}  # file lines of dropped rows
    regression = table(40, label=lambda i: "nan" if i == 7 else f"{i / 40}")
    ds = load_adapter(
        "table",
        path=str(write(tmp_path, "r.csv", regression)),
        test_fraction=0.25,
        task="regression",
        missing_labels="drop",
    )
    assert len(ds.labels) == 39 and np.isfinite(ds.labels).all()


def test_na_is_a_label_when_classes_name_it(tmp_path, load_adapter):
    data = table(40, label=lambda i: ["NA", "yes"][i % 2])
    ds = load_adapter(
        "table", path=str(write(tmp_path, "t.csv", data)), test_fraction=0.25, classes=["NA", "yes"]
    )
    assert ds.meta["dropped_missing_labels"] == 0 and np.bincount(ds.labels).tolist() == [20, 20]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("crlf_bom.csv", b"\xef\xbb\xbf" + table(40).replace(b"\n", b"\r\n")),
        ("blank_lines.csv", table(40).replace(b"\n", b"\n\n")),
        ("quoted.csv", table(40).replace(b"label", b'"label"')),
        ("gzipped.tsv.gz", gz(table(40, sep="\t"))),
        ("no_gz_suffix.tsv", gz(table(40, sep="\t"))),  # gzip found by its magic bytes
    ],
)
def test_good_tables_load(tmp_path, load_adapter, name, data):
    ds = load_adapter("table", path=str(write(tmp_path, name, data)), test_fraction=0.25)
    assert ds.tokens.shape == (40, 12) and ds.meta["dropped_missing_labels"] == 0
    assert sorted(ds.labels.tolist()) == [0] * 20 + [1] * 20


def test_blank_lines_keep_file_line_ids(tmp_path, load_adapter):
    data = table(40).replace(b"\n", b"\n\n", 3)  # blank lines 2, 4 and 6
    ds = load_adapter("table", path=str(write(tmp_path, "t.csv", data)), test_fraction=0.25)
    assert sorted(int(i.split(":")[1]) for i in ds.ids)[:4] == [3, 5, 7, 8]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("wrapped.fa", fasta(40, width=5)),
        ("crlf.fa", fasta(40).replace(b"\n", b"\r\n")),
        ("blank_lines.fa", fasta(40).replace(b"\n>", b"\n\n>")),
        ("gzipped.fa.gz", gz(fasta(40))),
        ("iupac.fa", fasta(40).replace(b"s3 class=1\n" + SEQS[3][:1].encode(), b"s3 class=1\nR")),
    ],
)
def test_good_fasta_loads(tmp_path, load_adapter, name, data):
    ds = load_adapter("fasta", path=str(write(tmp_path, name, data)), label_pattern=r"class=(\d)")
    assert ds.tokens.shape == (40, 12) and np.bincount(ds.labels).tolist() == [20, 20]
    assert ds.meta["n_ambiguous_to_N"] == (1 if name == "iupac.fa" else 0)
