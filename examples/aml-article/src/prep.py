"""Step `prep` (the article's data preparation step): read the posts, split them into a
training and a test set, stratified by label, and write both as CSV.

Deterministic: the split is seeded, and CSV is written with fixed quoting and line ends,
so a rerun on the same data writes the same bytes (early cutoff stops the rebuild there).
"""

import argparse
import csv
import os

from sklearn.model_selection import train_test_split


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def write(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", required=True, help="the posts (CSV: text,label)")
    p.add_argument("--out", required=True, help="output folder `split`")
    p.add_argument("--test-size", required=True, type=float)
    p.add_argument("--seed", required=True, type=int)
    a = p.parse_args()
    texts, labels = read(a.raw)
    x_train, x_test, y_train, y_test = train_test_split(
        texts, labels, test_size=a.test_size, random_state=a.seed, stratify=labels
    )
    write(os.path.join(a.out, "train.csv"), x_train, y_train)
    write(os.path.join(a.out, "test.csv"), x_test, y_test)
    print(f"prep: {len(texts)} posts -> {len(x_train)} train, {len(x_test)} test")


if __name__ == "__main__":
    main()
