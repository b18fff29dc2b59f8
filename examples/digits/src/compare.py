"""Step `compare`: read both models' metrics and write report/report.md naming the better one.

The better model has the higher test accuracy; a tie goes to the higher macro F1, then to
the name that sorts first, so the report is the same on every run.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of src/ (the snapshot would carry it)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import io as cio  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logreg", required=True, help="input folder `metrics` of evaluate_logreg")
    parser.add_argument("--forest", required=True, help="input folder `metrics` of evaluate_forest")
    parser.add_argument("--report", required=True, help="output folder `report` (exists, empty)")
    args = parser.parse_args()

    results = [cio.read_json(os.path.join(folder, "metrics.json")) for folder in (args.logreg, args.forest)]
    ranked = sorted(results, key=lambda m: (-m["accuracy"], -m["macro_f1"], m["model"]))
    best, other = ranked[0], ranked[1]

    lines = [
        "# digits: model comparison",
        "",
        f"Test split: {best['test_rows']} rows.",
        "",
        "| model | estimator | accuracy | macro F1 |",
        "|---|---|---:|---:|",
    ]
    for m in results:
        lines.append(f"| {m['model']} | {m['estimator']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |")
    lines += [
        "",
        f"better model: {best['model']} (accuracy {best['accuracy']:.4f} vs {other['accuracy']:.4f})",
        "",
    ]
    with open(os.path.join(args.report, "report.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))

    cio.log_metric("best_accuracy", best["accuracy"])
    print(f"compare: better model: {best['model']} "
          f"(accuracy {best['accuracy']:.4f} vs {other['accuracy']:.4f})")


if __name__ == "__main__":
    main()
