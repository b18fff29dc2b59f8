"""Step `evaluate_*`: score one trained model on the test split (accuracy and macro F1).

Writes metrics/metrics.json and, when the runner sets RUNNER_METRICS, logs
`accuracy` and `macro_f1` to it.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of src/ (the snapshot would carry it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import io as cio  # noqa: E402
from common import scores  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="input folder `model` from a train step")
    parser.add_argument("--data", required=True, help="input folder `split` from prepare")
    parser.add_argument("--metrics", required=True, help="output folder `metrics` (exists, empty)")
    parser.add_argument("--label", required=True, help="the model's name in the metrics and the report")
    args = parser.parse_args()

    model = cio.load_model(args.model)
    X, y, _ = cio.load_split(args.data, "test")
    predicted = model.predict(X)
    result = scores.classification(y, predicted)
    accuracy, macro_f1 = result["accuracy"], result["macro_f1"]
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model  # unwrap a sklearn Pipeline

    cio.write_json(os.path.join(args.metrics, "metrics.json"), {
        "model": args.label,
        "estimator": type(estimator).__name__,
        "test_rows": int(len(y)),
        **result,
    })
    cio.log_metric("accuracy", accuracy)
    cio.log_metric("macro_f1", macro_f1)
    print(f"evaluate {args.label}: accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f} on {len(y)} test rows")


if __name__ == "__main__":
    main()
