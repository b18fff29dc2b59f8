// Copies the pipeline JSON Schema from docs/ (generated from crates/hir/src/schema.rs) into
// schemas/, which the extension ships and contributes through `tomlValidation`. The copy is
// not committed, so it cannot go stale.

import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const from = join(here, "..", "..", "docs", "pipeline.schema.json");
const to = join(here, "schemas", "pipeline.schema.json");

try {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
} catch (err) {
  console.error(`copy-schema: copying ${from}: ${err.message}`);
  process.exit(1);
}
console.log(`copy-schema: ${relative(process.cwd(), from)} -> ${relative(process.cwd(), to)}`);
