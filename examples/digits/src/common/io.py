"""Reading and writing the files that flow between the steps of the digits pipeline.

Every writer here is deterministic: the same values always give the same bytes, so a step
that reruns on identical inputs produces identical outputs and the runner can cut off the
rebuild downstream (early cutoff). That is why:

- splits are CSV written by numpy with a fixed number format, not .npz (a zip archive
  stamps each member with the time it was written);
- models are pickled with a fixed protocol;
- JSON is written with sorted keys, fixed indentation and a final newline, no timestamps.
"""

import json
import os
import pickle

import numpy as np

PICKLE_PROTOCOL = 5
TARGET = "target"


def load_table(path):
    """Read a CSV with a header row whose last column is `target`.

    Returns (X, y, feature_names): X float64 of shape (rows, features), y int64.
    """
    with open(path, "r", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    if not header or header[-1] != TARGET:
        raise ValueError(f"{path}: the last column must be '{TARGET}', found {header[-1:]}")
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    if table.shape[1] != len(header):
        raise ValueError(f"{path}: {table.shape[1]} columns in the rows, {len(header)} in the header")
    return table[:, :-1], table[:, -1].astype(np.int64), header[:-1]


def save_table(path, X, y, feature_names):
    """Write X and y as a CSV with a header row, `target` last (the format load_table reads)."""
    table = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    header = ",".join(list(feature_names) + [TARGET])
    # %.17g round-trips every float64 exactly and prints whole numbers without a point.
    np.savetxt(path, table, fmt="%.17g", delimiter=",", header=header, comments="", newline="\n")


def split_paths(folder):
    """The files inside a `split` output folder."""
    return os.path.join(folder, "train.csv"), os.path.join(folder, "test.csv")


def load_split(folder, part):
    """Load one part ("train" or "test") of a split folder: (X, y, feature_names)."""
    train, test = split_paths(folder)
    return load_table({"train": train, "test": test}[part])


def model_path(folder):
    return os.path.join(folder, "model.pkl")


def save_model(folder, model):
    with open(model_path(folder), "wb") as f:
        pickle.dump(model, f, protocol=PICKLE_PROTOCOL)


def load_model(folder):
    with open(model_path(folder), "rb") as f:
        return pickle.load(f)


def write_json(path, value):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(value, f, sort_keys=True, indent=2)
        f.write("\n")


def read_json(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def log_metric(name, value):
    """Append `name value` to the file named by RUNNER_METRICS, when the runner sets it."""
    path = os.environ.get("RUNNER_METRICS")
    if not path:
        return
    if isinstance(value, float):
        value = repr(value)
    with open(path, "a", encoding="utf-8", newline="\n") as f:
        f.write(f"{name} {value}\n")
