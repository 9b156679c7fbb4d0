"""Write the small FASTA pair of ``studies/fasta_example.yaml`` (seeded: the same bytes every run).

Positives carry a TATA-box-like motif (``TATAAAAG``, each base mutated with probability
``MUTATION``) starting near ``OFFSET`` (jitter ``JITTER``); a share ``MISSING`` of them carry none,
so the task is not perfectly separable. Negatives carry a shuffle of the motif's bases at the same
place, so both classes have the same base composition and only the motif's order (and place)
tells them apart. The background of both is drawn from one AT-rich base distribution.

Run from the repository root: ``python studies/data/fasta_example/make_fasta_example.py``
(``--out DIR`` writes elsewhere).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 20240611
N_PER_CLASS = 300
LENGTH = 80
MOTIF = "TATAAAAG"
OFFSET = 45  # motif start; a TATA box sits ~30 bp upstream of a TSS, here at base ~75
JITTER = 2  # start drawn uniformly in OFFSET +- JITTER
MUTATION = 0.1  # chance that a motif base is replaced by a random other base
MISSING = 0.1  # share of positives without the motif
BACKGROUND = {"A": 0.3, "C": 0.2, "G": 0.2, "T": 0.3}
WRAP = 60  # bases per FASTA line (the adapter reads wrapped records)
HERE = Path(__file__).resolve().parent


def background(rng: np.random.Generator) -> list[str]:
    """One background sequence of ``LENGTH`` bases."""
    bases, p = list(BACKGROUND), list(BACKGROUND.values())
    return list(rng.choice(bases, size=LENGTH, p=p))


def mutated(motif: str, rng: np.random.Generator) -> str:
    """``motif`` with each base replaced by a random different base with chance ``MUTATION``."""
    out = []
    for base in motif:
        if rng.random() < MUTATION:
            base = str(rng.choice([b for b in "ACGT" if b != base]))
        out.append(base)
    return "".join(out)


def record(name: str, header: str, seq: list[str]) -> str:
    """One FASTA record, its sequence wrapped at ``WRAP`` bases."""
    text = "".join(seq)
    lines = [text[i : i + WRAP] for i in range(0, len(text), WRAP)]
    return f">{name} {header}\n" + "\n".join(lines) + "\n"


def make(rng: np.random.Generator) -> tuple[str, str]:
    """(positives, negatives) FASTA text."""
    positives, negatives = [], []
    for i in range(N_PER_CLASS):
        seq = background(rng)
        start = OFFSET + int(rng.integers(-JITTER, JITTER + 1))
        if rng.random() < MISSING:
            header = "motif=none"
        else:
            site = mutated(MOTIF, rng)
            seq[start : start + len(site)] = site
            header = f"motif={site} start={start}"
        positives.append(record(f"pos_{i:04d}", header, seq))
    for i in range(N_PER_CLASS):
        seq = background(rng)
        start = OFFSET + int(rng.integers(-JITTER, JITTER + 1))
        decoy = MOTIF
        while decoy == MOTIF:  # 1 shuffle in 168 gives the motif back: draw again
            decoy = "".join(rng.permutation(list(MOTIF)))
        seq[start : start + len(decoy)] = decoy
        negatives.append(record(f"neg_{i:04d}", f"decoy={decoy} start={start}", seq))
    return "".join(positives), "".join(negatives)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    positives, negatives = make(np.random.default_rng(SEED))
    (out / "positives.fa").write_text(positives)
    (out / "negatives.fa").write_text(negatives)
    print(f"wrote {out / 'positives.fa'} and {out / 'negatives.fa'} ({N_PER_CLASS} records each)")


if __name__ == "__main__":
    main()
