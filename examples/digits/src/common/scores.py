"""Scores of a classifier on a labelled split; imported by `evaluate.py` only, so an edit here
reruns the two evaluate steps and nothing else (the runner keys each step by the modules its
script imports)."""

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score


def classification(y, predicted):
    """Accuracy, macro F1, the labels seen and the confusion matrix, as plain JSON values."""
    labels = sorted(int(v) for v in set(y.tolist()))
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro")),
        "labels": labels,
        "confusion_matrix": confusion_matrix(y, predicted, labels=labels).tolist(),
    }
