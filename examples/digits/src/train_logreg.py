"""Step `train_logreg`: fit a logistic regression (on standardised pixels) to the training split."""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of src/ (the snapshot would carry it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from common import io as cio  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="input folder `split` from prepare")
    parser.add_argument("--model", required=True, help="output folder `model` (exists, empty)")
    parser.add_argument("--C", required=True, type=float, help="inverse regularisation strength")
    parser.add_argument("--max-iter", required=True, type=int, help="iterations of the solver at most")
    args = parser.parse_args()
    if args.C <= 0:
        parser.error(f"--C must be positive, got {args.C}")

    X, y, _ = cio.load_split(args.data, "train")
    # lbfgs is deterministic: no random state needed.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter))
    model.fit(X, y)
    cio.save_model(args.model, model)

    train_accuracy = float(model.score(X, y))
    n_iter = int(model[-1].n_iter_.max())
    cio.log_metric("train_accuracy", train_accuracy)
    cio.log_metric("n_iter", n_iter)
    print(f"train_logreg: C={args.C:g}, {n_iter} iterations, train accuracy {train_accuracy:.4f}")


if __name__ == "__main__":
    main()
