"""Step `prepare`: split the raw digits table into a training and a test part.

The split is stratified by digit and seeded, so the same raw file, seed and test size
always give byte-identical split/train.csv and split/test.csv.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of src/ (the snapshot would carry it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sklearn.model_selection import train_test_split  # noqa: E402

from common import io as cio  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="the raw CSV (header row, `target` last)")
    parser.add_argument("--out", required=True, help="output folder `split` (exists, empty)")
    parser.add_argument("--seed", required=True, type=int, help="seed of the shuffle")
    parser.add_argument("--test-size", required=True, type=float, help="fraction held out for evaluation")
    args = parser.parse_args()
    if not 0.0 < args.test_size < 1.0:
        parser.error(f"--test-size must be between 0 and 1, got {args.test_size}")

    X, y, features = cio.load_table(args.raw)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed, stratify=y
    )
    train_path, test_path = cio.split_paths(args.out)
    cio.save_table(train_path, X_train, y_train, features)
    cio.save_table(test_path, X_test, y_test, features)

    cio.log_metric("train_rows", len(y_train))
    cio.log_metric("test_rows", len(y_test))
    print(f"prepare: {len(y)} rows -> {len(y_train)} train, {len(y_test)} test "
          f"(seed {args.seed}, test size {args.test_size})")


if __name__ == "__main__":
    main()
