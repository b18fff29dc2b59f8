"""Export scikit-learn's bundled digits data set to datastore/raw/digits.csv.

This script was run once to produce the committed file; it is not a pipeline step.
scikit-learn ships the data inside its package (sklearn/datasets/data/digits.csv.gz),
so nothing is downloaded. Rerunning it rewrites the same bytes:

    python3 -m venv /tmp/digits-venv
    /tmp/digits-venv/bin/pip install -r requirements.txt
    /tmp/digits-venv/bin/python export_data.py

Format: a header row `pixel_0_0,...,pixel_7_7,target`, then one row per image:
64 integer pixel intensities (0..16, an 8x8 image read row by row) and the digit (0..9).
"""

import argparse
import os

from sklearn.datasets import load_digits


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=os.path.join(here, "datastore", "raw", "digits.csv"),
        help="where to write the CSV (default: datastore/raw/digits.csv)",
    )
    args = parser.parse_args()

    digits = load_digits()
    header = [f"pixel_{i // 8}_{i % 8}" for i in range(64)] + ["target"]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(header) + "\n")
        for row, target in zip(digits.data, digits.target):
            f.write(",".join(str(int(v)) for v in row) + f",{int(target)}\n")
    print(f"wrote {len(digits.target)} rows x {len(header)} columns to {args.out}")


if __name__ == "__main__":
    main()
