#!/usr/bin/env bash
# shared_cache.sh: a fresh clone's fully cached build against a shared cache on loopback,
# beside DVC's `dvc pull` + `dvc repro` of the same pipeline with an S3 remote on the same
# moto server; and the requests a no-op build makes for 100 data references in a bucket.
#
#   bash bench/shared_cache.sh                  # N=1000 wide, runner and DVC
#   SHAPE=diamond TOOLS=runner bash bench/shared_cache.sh   # where "final" differs from "all"
#   N=200 TOOLS=runner bash bench/shared_cache.sh
#
# The pipeline is one of ../shared/bench's shapes (SHAPE: wide, N independent steps each
# copying its 1 KiB input to its output, where every output is final; diamond, the same
# plus one step reading all N outputs, whose output alone is final); bench/gen_ours.py
# writes runner's file. Clone A builds and fills the
# cache (runner: `[cache] remote`, uploaded as steps end; DVC: `dvc repro`, then `dvc
# push`); clone B is a fresh copy of the sources (no `.runner/`, no `.dvc/cache`), timed
# from there to a workspace with every output: runner with `download = "final"` and with
# `"all"`, DVC with `dvc pull` then `dvc repro` (which must find nothing to run). Each of
# runner's figures is the median of RUNS fresh clones; DVC's is one run (minutes long).
# Needs: moto (tests/services/s3.sh install), DVC in ../shared/bench's venv with dvc-s3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${N:-1000}
SHAPE=${SHAPE:-wide}
RUNS=${RUNS:-3}
TOOLS=${TOOLS:-"runner dvc"}
PORT=${PORT:-15020}
WORK=${WORK:-/tmp/runner-shared-bench}
RUNNER=${RUNNER:-$ROOT/target/release/runner}
DVC_VENV=${DVC_VENV:-/tmp/runner-bench/peer/.venv}
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
rm -rf "$WORK"; mkdir -p "$WORK"
bash "$ROOT/tests/services/s3.sh" start "$WORK/moto" "$PORT" runner >/dev/null
trap 'bash "$ROOT/tests/services/s3.sh" stop "$WORK/moto"' EXIT
python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$PORT/dvc', method='PUT'))"
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
requests() { grep -c 'HTTP/1.1"' "$WORK/moto/moto.log" || true; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ " $TOOLS " == *" runner "* ]]; then
  python3 "$HERE/gen_ours.py" --shape "$SHAPE" --n "$N" --out "$WORK/src" >/dev/null
  cat >> "$WORK/src/pipeline.toml" <<EOF

[datastores.team]
kind = "s3"
bucket = "runner"
endpoint = "http://127.0.0.1:$PORT"

[cache]
remote = "team"
EOF
  cp -r "$WORK/src" "$WORK/a"
  t0=$(now); "$RUNNER" build "$WORK/a" --format json > "$WORK/a.json"; t1=$(now)
  python3 - "$WORK/a.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ran = sum(s["status"] == "ran" for s in d["steps"])
print(f"clone A: {ran} steps ran, {d['shared_cache']['uploaded_bytes']} bytes uploaded in {d['shared_cache']['requests']} requests, {d['seconds']:.2f} s")
PY
  for mode in final all; do
    : > "$WORK/times"
    for r in $(seq 1 "$RUNS"); do
      b="$WORK/b-$mode-$r"; cp -r "$WORK/src" "$b"
      sed -i "s/^remote = \"team\"$/remote = \"team\"\ndownload = \"$mode\"/" "$b/pipeline.toml"
      before=$(requests)
      t0=$(now); "$RUNNER" build "$b" --format json > "$b.json"; t1=$(now)
      echo "$t1 - $t0" | bc >> "$WORK/times"
      python3 - "$b.json" "$mode" "$(( $(requests) - before ))" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ran = sum(s["status"] == "ran" for s in d["steps"])
sc = d["shared_cache"]
print(f"  clone B, download={sys.argv[2]}: {ran} ran, {sc['downloaded_bytes']} bytes downloaded, {sys.argv[3]} requests")
PY
    done
    echo "runner fresh clone, download=$mode: median $(median < "$WORK/times") s over $RUNS clones"
  done
fi

if [[ " $TOOLS " == *" runner "* ]]; then
  # 100 data references to objects under one prefix: the requests and time of a no-op.
  mkdir -p "$WORK/refs/data"
  {
    printf '[datastores.lake]\nkind = "s3"\nbucket = "runner"\nendpoint = "http://127.0.0.1:%s"\n' "$PORT"
    for i in $(seq -w 0 99); do
      echo "$i" > "$WORK/refs/data/r$i.txt"
      printf '\n[data.r%s]\ndatastore = "lake"\npath = "refs/r%s.txt"\n' "$i" "$i"
      printf '\n[steps.s%s]\ncommand = ["cp", "${inputs.d}", "${outputs.o}/c.txt"]\ninputs = { d = "data.r%s" }\noutputs = ["o"]\n' "$i" "$i"
    done
  } > "$WORK/refs/pipeline.toml"
  "$RUNNER" upload "$WORK"/refs/data/*.txt -p "$WORK/refs" --datastore lake --target refs 2>/dev/null
  "$RUNNER" build "$WORK/refs" >/dev/null 2>&1
  : > "$WORK/times"
  for r in $(seq 1 10); do
    before=$(requests)
    t0=$(now); "$RUNNER" build "$WORK/refs" >/dev/null 2>&1; t1=$(now)
    echo "$t1 - $t0" | bc >> "$WORK/times"
    made=$(( $(requests) - before ))
  done
  echo "no-op of 100 data references in S3 (one prefix): $made requests, median $(median < "$WORK/times") s over 10 builds"
fi

if [[ " $TOOLS " == *" dvc "* ]]; then
  export DVC_NO_ANALYTICS=1
  # The venv's scripts may name the folder it was made in: `dvc` runs its module.
  "$DVC_VENV/bin/python" -c "import dvc_s3" 2>/dev/null || "$DVC_VENV/bin/python" -m pip install -q dvc-s3
  mkdir -p "$WORK/bin"; printf '#!/bin/sh\nexec "%s" -m dvc "$@"\n' "$DVC_VENV/bin/python" > "$WORK/bin/dvc"
  chmod +x "$WORK/bin/dvc"; export PATH="$WORK/bin:$PATH"
  PEER=${PEER_BENCH:-$ROOT/../shared/bench}
  python3 "$PEER/gen_pipelines.py" --shape "$SHAPE" --n "$N" --out "$WORK/dvc-a" --tools dvc >/dev/null
  cd "$WORK/dvc-a/dvc"   # gen_pipelines.py writes each tool's pipeline in a folder of its name
  dvc remote add -q -d team s3://dvc/cache
  dvc remote modify -q team endpointurl "http://127.0.0.1:$PORT"
  t0=$(now); dvc repro -q >/dev/null; t1=$(now)
  echo "DVC clone A: dvc repro $(echo "$t1 - $t0" | bc) s"
  t0=$(now); dvc push -q >/dev/null; t1=$(now)
  echo "DVC clone A: dvc push $(echo "$t1 - $t0" | bc) s"
  git add -A >/dev/null && git -c user.name=b -c user.email=b@l commit -qm lock >/dev/null
  git clone -q "$WORK/dvc-a/dvc" "$WORK/dvc-b"
  cd "$WORK/dvc-b"
  before=$(requests)
  t0=$(now); dvc pull -q >/dev/null; t1=$(now)
  pull=$(echo "$t1 - $t0" | bc)
  t0=$(now); dvc repro -q > "$WORK/dvc-repro.txt"; t1=$(now)
  repro=$(echo "$t1 - $t0" | bc)
  echo "DVC fresh clone: dvc pull $pull s + dvc repro $repro s = $(echo "$pull + $repro" | bc) s, $(( $(requests) - before )) requests"
  du -sb .dvc/cache | awk '{print "  DVC cache after pull: " $1 " bytes"}'
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
