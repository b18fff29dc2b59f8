"""Step `train_forest`: fit a random forest to the training split."""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of src/ (the snapshot would carry it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from common import io as cio  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="input folder `split` from prepare")
    parser.add_argument("--model", required=True, help="output folder `model` (exists, empty)")
    parser.add_argument("--n-estimators", required=True, type=int, help="trees in the forest")
    parser.add_argument("--max-depth", required=True, type=int, help="deepest a tree grows; 0 = no limit")
    parser.add_argument("--seed", required=True, type=int, help="seed of the bootstrap and feature draws")
    args = parser.parse_args()
    if args.n_estimators < 1:
        parser.error(f"--n-estimators must be at least 1, got {args.n_estimators}")

    X, y, _ = cio.load_split(args.data, "train")
    model = RandomForestClassifier(
        n_estimators=args.n_estimators,
        max_depth=args.max_depth if args.max_depth > 0 else None,
        random_state=args.seed,
        n_jobs=1,  # one worker: same trees in the same order on every run
    )
    model.fit(X, y)
    cio.save_model(args.model, model)

    train_accuracy = float(model.score(X, y))
    cio.log_metric("train_accuracy", train_accuracy)
    print(f"train_forest: {args.n_estimators} trees, max depth {args.max_depth or 'unlimited'}, "
          f"seed {args.seed}, train accuracy {train_accuracy:.4f}")


if __name__ == "__main__":
    main()
