#!/usr/bin/env bash
# CI for the VS Code extension: install the locked dependencies, type-check, run the unit
# tests, package the .vsix, check what it contains and that the shipped bundle loads.
# Prints the path of the .vsix on success; exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*" >&2; }

step "npm ci"
npm ci --no-audit --no-fund

step "npm run check"
npm run check

step "npm test"
npm test

step "npm run package"
rm -f ./*.vsix
npm run package

version=$(node -p 'require("./package.json").version')
vsix="$PWD/runner-$version.vsix"
[[ -f "$vsix" ]] || { echo "ci.sh: $vsix was not written" >&2; exit 1; }

step "check the package"
# The bundle, as shipped, loads and behaves against the fake `vscode` of the tests.
RUNNER_EXTENSION_MAIN="$PWD/dist/extension.js" node --test out/test/extension.test.js
# Exactly the files .vscodeignore lets through, plus what vsce adds itself.
expected='extension.vsixmanifest
[Content_Types].xml
extension/LICENSE.txt
extension/dist/extension.js
extension/package.json
extension/readme.md
extension/schemas/pipeline.schema.json'
actual=$(unzip -Z1 "$vsix" | sort)
if [[ "$actual" != "$(sort <<<"$expected")" ]]; then
  echo "ci.sh: unexpected files in $vsix:" >&2
  diff <(sort <<<"$expected") <(echo "$actual") >&2 || true
  exit 1
fi
# The shipped schema is the one in docs/, not a stale copy.
unzip -p "$vsix" extension/schemas/pipeline.schema.json | cmp -s - ../../docs/pipeline.schema.json ||
  { echo "ci.sh: the packaged schema differs from docs/pipeline.schema.json" >&2; exit 1; }

printf '\nci.sh: ok: %s (%s bytes)\n' "$vsix" "$(wc -c <"$vsix" | tr -d ' ')"
