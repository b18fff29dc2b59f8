"""Step `evaluate` (the article's evaluation step): score the model on the test posts;
write the accuracy and a confusion table as Markdown, and log the metrics."""

import argparse
import csv
import os
import pickle

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="input folder `split` from prep")
    p.add_argument("--model", required=True, help="input folder `model` from train")
    p.add_argument("--out", required=True, help="output folder `report`")
    p.add_argument("--examples", type=int, default=10, help="misclassified posts listed, at most")
    a = p.parse_args()
    with open(os.path.join(a.data, "test.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    with open(os.path.join(a.model, "model.pkl"), "rb") as f:
        model = pickle.load(f)
    predicted = model.predict(texts)
    accuracy = accuracy_score(labels, predicted)
    macro_f1 = f1_score(labels, predicted, average="macro")
    classes = sorted(set(labels))
    cm = confusion_matrix(labels, predicted, labels=classes)
    lines = [
        "# Topic classifier",
        "",
        f"Accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f} on {len(labels)} test posts.",
        "",
        "| true \\ predicted | " + " | ".join(classes) + " |",
        "|---|" + "---:|" * len(classes),
    ]
    for c, row in zip(classes, cm):
        lines.append(f"| {c} | " + " | ".join(str(int(v)) for v in row) + " |")
    wrong = [(t, l, p) for t, l, p in zip(texts, labels, predicted) if l != p][: max(a.examples, 0)]
    lines += ["", f"## Misclassified posts ({len(wrong)} shown)", ""]
    for text, label, guess in wrong:
        short = " ".join(text.split())[:80]
        lines.append(f"- {label} taken for {guess}: {short}")
    with open(os.path.join(a.out, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    metrics = os.environ.get("RUNNER_METRICS")
    if metrics:
        with open(metrics, "a", encoding="utf-8") as f:
            f.write(f"accuracy {accuracy}\nmacro_f1 {macro_f1}\n")
    print(f"evaluate: accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f}")


if __name__ == "__main__":
    main()
