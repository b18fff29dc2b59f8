#!/usr/bin/env bash
# bad_input.sh: how fast `runner check` answers each case of the bad-input corpus
# (release build; wall time and peak memory from /usr/bin/time).
#   bash bench/bad_input.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p runner --manifest-path "$ROOT/Cargo.toml"
RUNNER="$ROOT/target/release/runner"
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
python3 - "$D" <<'PY'
import os, sys
d = sys.argv[1]
w = lambda n, b: open(os.path.join(d, n), "wb").write(b)
w("empty.toml", b"")
w("invalid-utf8.toml", b'[steps.a]\ncommand = ["echo", "\xff\xfe"]\n')
w("garbage-10MB.toml", os.urandom(10_000_000))
w("deep-arrays.toml", b"a = " + b"[" * 100_000 + b"]" * 100_000)
w("deep-tables.toml", b"a = " + b"{b = " * 100_000 + b"1" + b"}" * 100_000)
steps, i, size = [], 0, 0
while size < 10_000_000:
    steps.append(f'[steps.s{i}]\ncommand = ["echo", "${{outputs.o}}"]\noutputs = ["o"]\n'.encode())
    size += len(steps[-1]); i += 1
w("steps-10MB.toml", b"".join(steps))
w("steps-10MB-broken.toml", b"".join(steps).replace(b"[steps.s5]", b"[steps.s5\n", 1))
w("syntax-errors-everywhere.toml", b"[a\n= 1\nb = [1,\nc = {\n" * 50_000)
w("unknown-key-5MB.toml", b'[steps.a]\ncommand = ["true"]\n' + b"k" * 5_000_000 + b" = 1\n")
w("repeated-headers.toml", b"[steps.a]\ncommand = [\"true\"]\n" + b"[steps.x]\n" * 20_000)
PY
printf '| case | size | exit | seconds | peak memory |\n|---|---:|---:|---:|---:|\n'
for f in "$D"/*.toml; do
  set +e
  /usr/bin/time -f "%x %e %M" -o "$D/t" "$RUNNER" check "$f" --format json >/dev/null 2>&1
  set -e
  read -r code secs kb < <(grep -v '^Command' "$D/t" | tail -1)
  printf '| %s | %s | %s | %s | %s MB |\n' "$(basename "$f")" "$(stat -c %s "$f")" "$code" "$secs" "$((kb / 1024))"
done
