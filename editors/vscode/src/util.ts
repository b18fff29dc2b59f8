// Pure helpers for the extension: which documents are pipelines, where the `runner`
// executable is, and the argv of the commands we run. Nothing here imports `vscode`, so
// `node --test` runs the tests in `test/` without an editor.

import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** Files the language server handles, as a VS Code glob over the whole path. */
export const PIPELINE_GLOB = "**/{pipeline.toml,*.pipeline.toml}";

/**
 * The client's document selector. The language stays `toml` so Even Better TOML (or any
 * other TOML extension) keeps highlighting and formatting these files; `pattern` narrows
 * it to pipeline files.
 */
export const DOCUMENT_SELECTOR = [{ scheme: "file", language: "toml", pattern: PIPELINE_GLOB }];

/** Whether a file name (any separator) is `pipeline.toml` or `*.pipeline.toml`. */
export function isPipelineFileName(fileName: string): boolean {
  const base = fileName.split(/[\\/]/).pop() ?? "";
  return base === "pipeline.toml" || base.endsWith(".pipeline.toml");
}

/** What `DOCUMENT_SELECTOR` matches, for a document described by plain data. */
export function matchesPipelineDocument(doc: {
  scheme: string;
  languageId: string;
  fileName: string;
}): boolean {
  return doc.scheme === "file" && doc.languageId === "toml" && isPipelineFileName(doc.fileName);
}

/** What a PATH lookup needs to know about the machine. */
export interface PathEnv {
  platform: NodeJS.Platform;
  /** `process.env`, or a test's stand-in. */
  env: Record<string, string | undefined>;
  /** Whether `file` exists and can be executed. */
  isExecutable: (file: string) => boolean;
}

/** Looks `name` up on `PATH` like a shell would; `undefined` when it is not there. */
export function findOnPath(name: string, pathEnv: PathEnv): string | undefined {
  const windows = pathEnv.platform === "win32";
  const p = windows ? path.win32 : path.posix;
  // Windows environment variable names are case-insensitive.
  const get = (key: string): string | undefined => {
    if (!windows) return pathEnv.env[key];
    const found = Object.keys(pathEnv.env).find((k) => k.toUpperCase() === key);
    return found === undefined ? undefined : pathEnv.env[found];
  };
  const dirs = (get("PATH") ?? "").split(p.delimiter).filter((d) => d !== "");
  const exts = windows
    ? (get("PATHEXT") ?? ".COM;.EXE;.BAT;.CMD").split(";").filter((e) => e !== "")
    : [];
  const hasExt = windows && exts.some((e) => name.toLowerCase().endsWith(e.toLowerCase()));
  const candidates = windows && !hasExt ? exts.map((e) => name + e.toLowerCase()) : [name];
  for (const dir of dirs) {
    // Quoted PATH entries are legal on Windows.
    const clean = windows ? dir.replace(/^"(.*)"$/, "$1") : dir;
    for (const candidate of candidates) {
      const file = p.join(clean, candidate);
      if (pathEnv.isExecutable(file)) return file;
    }
  }
  return undefined;
}

/** Where the server is, or a message saying why it cannot be found. */
export type ServerResolution =
  | { ok: true; path: string; source: "setting" | "PATH" }
  | { ok: false; message: string };

export interface ResolveOptions {
  /** `runner.server.path`; empty or blank means "look on PATH". */
  configuredPath: string | undefined;
  /** Looks a bare command name up on PATH (`findOnPath` bound to the machine). */
  lookup: (name: string) => string | undefined;
  /** Whether a file exists and can be executed. */
  isExecutable: (file: string) => boolean;
  homeDir: string;
  /** The first workspace folder, against which a relative setting is resolved. */
  workspaceFolder: string | undefined;
  platform: NodeJS.Platform;
}

/** The executable's name on PATH. */
export const SERVER_COMMAND = "runner";

/**
 * Resolves the `runner` executable: the `runner.server.path` setting first, then `runner`
 * on PATH. A setting that points nowhere is an error rather than a silent fall back to
 * PATH, so a typo does not start some other `runner`.
 */
export function resolveServerPath(opts: ResolveOptions): ServerResolution {
  const p = opts.platform === "win32" ? path.win32 : path.posix;
  const configured = (opts.configuredPath ?? "").trim();
  const install =
    "Install it with `cargo install --path crates/runner` from the runner repository, " +
    "or set `runner.server.path`.";
  if (configured === "") {
    const found = opts.lookup(SERVER_COMMAND);
    if (found !== undefined) return { ok: true, path: found, source: "PATH" };
    return { ok: false, message: `Cannot find \`${SERVER_COMMAND}\` on PATH. ${install}` };
  }
  // A bare name ("runner-dev") is a command to look up on PATH, as in a shell.
  if (!/[\\/]/.test(configured) && configured !== "~") {
    const found = opts.lookup(configured);
    if (found !== undefined) return { ok: true, path: found, source: "setting" };
    return {
      ok: false,
      message: `\`runner.server.path\` is \`${configured}\`, which is not on PATH.`,
    };
  }
  let file = configured;
  if (file === "~" || file.startsWith("~/") || file.startsWith("~\\")) {
    file = p.join(opts.homeDir, file.slice(1));
  }
  if (!p.isAbsolute(file)) {
    if (opts.workspaceFolder === undefined) {
      return {
        ok: false,
        message: `\`runner.server.path\` is relative (\`${configured}\`) but no folder is open; use an absolute path.`,
      };
    }
    file = p.resolve(opts.workspaceFolder, file);
  }
  if (!opts.isExecutable(file)) {
    return {
      ok: false,
      message: `\`runner.server.path\` is \`${configured}\`, but there is no executable file at ${file}.`,
    };
  }
  return { ok: true, path: file, source: "setting" };
}

/** The server's argv after the executable: `lsp` then `runner.server.extraArgs`. */
export function serverArgs(extraArgs: unknown): string[] {
  const extra = Array.isArray(extraArgs)
    ? extraArgs.filter((a): a is string => typeof a === "string")
    : [];
  return ["lsp", ...extra];
}

/**
 * The argv of `runner build` for one step. It is passed to the process as is, never through
 * a shell, so paths and names need no quoting; `--` keeps a path that starts with `-` from
 * being read as an option.
 */
export function buildStepArgv(pipelinePath: string, stepName: string): string[] {
  return ["build", "--", pipelinePath, stepName];
}

/**
 * The pipeline argument of `runner.buildStep` as a file path. The server sends a path; a
 * `file:` URI is accepted too. Anything else (another scheme, not a string) is `undefined`.
 */
export function pipelinePathFromArg(arg: unknown): string | undefined {
  if (typeof arg !== "string" || arg === "") return undefined;
  if (/^file:/i.test(arg)) {
    try {
      return fileURLToPath(arg);
    } catch {
      return undefined;
    }
  }
  // `c:/x`, `C:\x` and `/x` are paths; `untitled:x` or `https://x` are not.
  if (/^[a-z][a-z0-9+.-]+:/i.test(arg) && !/^[a-z]:[\\/]/i.test(arg)) return undefined;
  return arg;
}

/** The step argument of `runner.buildStep`, if it is a usable name. */
export function stepNameFromArg(arg: unknown): string | undefined {
  return typeof arg === "string" && arg.trim() !== "" ? arg : undefined;
}
