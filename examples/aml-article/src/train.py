"""Step `train` (the article's training step): fit TF-IDF features and a logistic
regression to the training posts; write the fitted pipeline.

The pickle is made byte-for-byte reproducible, so that a rerun that fits the same model
leaves `evaluate` reused (early cutoff): the vectorizer's `stop_words_` (a set, whose
order follows PYTHONHASHSEED) is emptied and its `_stop_words_id` (a memory address) is
dropped before pickling, the step's `env` pins PYTHONHASHSEED as well, and the pickle
protocol is fixed.
"""

import argparse
import csv
import os
import pickle

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="input folder `split` from prep")
    p.add_argument("--model", required=True, help="output folder `model`")
    p.add_argument("--C", required=True, type=float)
    p.add_argument("--max-features", required=True, type=int)
    a = p.parse_args()
    with open(os.path.join(a.data, "train.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    model = make_pipeline(
        TfidfVectorizer(max_features=a.max_features, sublinear_tf=True),
        LogisticRegression(C=a.C, max_iter=1000),
    )
    model.fit(texts, labels)
    model[0].stop_words_ = None
    if hasattr(model[0], "_stop_words_id"):
        del model[0]._stop_words_id
    with open(os.path.join(a.model, "model.pkl"), "wb") as f:
        pickle.dump(model, f, protocol=5)
    vocabulary = len(model[0].vocabulary_)
    metrics = os.environ.get("RUNNER_METRICS")
    if metrics:
        with open(metrics, "a", encoding="utf-8") as f:
            f.write(f"train_accuracy {model.score(texts, labels)}\nvocabulary {vocabulary}\n")
    print(f"train: C={a.C:g}, {vocabulary} terms")


if __name__ == "__main__":
    main()
