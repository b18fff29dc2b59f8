"""Write datastore/raw/posts.csv: a small, generated stand-in for the 20 newsgroups data the
Azure ML article's pipeline classifies (which needs a download). Four topics, 200 posts
each, every post twenty words drawn from its topic's words and words all topics share;
seeded, so the file is the same on every machine.

    python3 make_data.py
"""

import csv
import os
import random

TOPICS = {
    "sci.space": "orbit launch rocket shuttle nasa moon mars satellite telescope astronaut payload thrust",
    "rec.sport": "game team season score player coach league goal match referee playoff fans",
    "comp.graphics": "image render pixel shader polygon texture driver resolution bitmap vertex opengl gpu",
    "sci.med": "patient doctor symptom treatment disease clinical dose vaccine diagnosis therapy blood study",
}
COMMON = "the a of and to in is that it for on with as was this be at by from have not but"


def main():
    rng = random.Random(20)
    shared = COMMON.split()
    rows = []
    every = [w for ws in TOPICS.values() for w in ws.split()]
    for label, words in TOPICS.items():
        words = words.split()
        for _ in range(200):
            post = []
            for _ in range(20):
                r = rng.random()
                # Mostly shared words, a few of the topic's, and some of any topic's.
                pool = words if r < 0.10 else every if r < 0.22 else shared
                post.append(rng.choice(pool))
            rows.append((" ".join(post), label))
    rng.shuffle(rows)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datastore", "raw", "posts.csv")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["text", "label"])
        w.writerows(rows)
    print(f"wrote {len(rows)} posts to {out}")


if __name__ == "__main__":
    main()
