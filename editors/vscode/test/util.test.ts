// Unit tests for src/util.ts: `npm test` compiles them to out/ and runs `node --test`.

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  DOCUMENT_SELECTOR,
  PIPELINE_GLOB,
  buildStepArgv,
  findOnPath,
  isPipelineFileName,
  matchesPipelineDocument,
  pipelinePathFromArg,
  resolveServerPath,
  serverArgs,
  stepNameFromArg,
  type ResolveOptions,
} from "../src/util";

describe("document selector", () => {
  it("matches pipeline.toml and *.pipeline.toml only", () => {
    for (const name of [
      "/w/pipeline.toml",
      "/w/a/b/train.pipeline.toml",
      "C:\\w\\pipeline.toml",
      "C:\\w\\x.pipeline.toml",
      "pipeline.toml",
    ]) {
      assert.equal(isPipelineFileName(name), true, name);
    }
    for (const name of [
      "/w/Cargo.toml",
      "/w/pipeline.toml.bak",
      "/w/my-pipeline.toml",
      "/w/pipeline.toml/x.toml",
      "/w/Pipeline.toml",
      "",
    ]) {
      assert.equal(isPipelineFileName(name), false, name);
    }
  });

  it("wants a toml document on disk", () => {
    const doc = { scheme: "file", languageId: "toml", fileName: "/w/pipeline.toml" };
    assert.equal(matchesPipelineDocument(doc), true);
    assert.equal(matchesPipelineDocument({ ...doc, scheme: "untitled" }), false);
    assert.equal(matchesPipelineDocument({ ...doc, languageId: "plaintext" }), false);
    assert.equal(matchesPipelineDocument({ ...doc, fileName: "/w/Cargo.toml" }), false);
  });

  it("keeps the toml language and selects by pattern", () => {
    assert.deepEqual(DOCUMENT_SELECTOR, [
      { scheme: "file", language: "toml", pattern: "**/{pipeline.toml,*.pipeline.toml}" },
    ]);
  });

  // path.matchesGlob (experimental in Node 20) implements the same glob dialect for these
  // names, so the pattern and the predicate cannot drift apart.
  it("agrees with the glob", { skip: typeof path.matchesGlob !== "function" }, () => {
    for (const name of [
      "/w/pipeline.toml",
      "/w/deep/er/x.pipeline.toml",
      "/w/Cargo.toml",
      "/w/pipeline.toml.bak",
      "/w/xpipeline.toml",
      "/w/pipeline.toml/y.toml",
    ]) {
      assert.equal(path.matchesGlob(name, PIPELINE_GLOB), isPipelineFileName(name), name);
    }
  });
});

describe("findOnPath", () => {
  it("returns the first executable in PATH order", () => {
    const exe = new Set(["/opt/bin/runner", "/usr/bin/runner"]);
    const found = findOnPath("runner", {
      platform: "linux",
      env: { PATH: "/nope::/usr/bin:/opt/bin" },
      isExecutable: (f) => exe.has(f),
    });
    assert.equal(found, "/usr/bin/runner");
  });

  it("returns undefined when missing or PATH is unset", () => {
    const isExecutable = (): boolean => false;
    assert.equal(findOnPath("runner", { platform: "linux", env: { PATH: "/bin" }, isExecutable }), undefined);
    assert.equal(findOnPath("runner", { platform: "linux", env: {}, isExecutable: () => true }), undefined);
  });

  it("tries PATHEXT on Windows, with case-insensitive variable names and quoted entries", () => {
    const seen: string[] = [];
    const found = findOnPath("runner", {
      platform: "win32",
      env: { Path: 'C:\\a;"C:\\Program Files\\runner"', PathExt: ".COM;.EXE" },
      isExecutable: (f) => {
        seen.push(f);
        return f === "C:\\Program Files\\runner\\runner.exe";
      },
    });
    assert.equal(found, "C:\\Program Files\\runner\\runner.exe");
    assert.deepEqual(seen, [
      "C:\\a\\runner.com",
      "C:\\a\\runner.exe",
      "C:\\Program Files\\runner\\runner.com",
      "C:\\Program Files\\runner\\runner.exe",
    ]);
  });

  it("does not add an extension to a name that has one on Windows", () => {
    const found = findOnPath("runner.exe", {
      platform: "win32",
      env: { PATH: "C:\\bin" },
      isExecutable: (f) => f === "C:\\bin\\runner.exe",
    });
    assert.equal(found, "C:\\bin\\runner.exe");
  });
});

describe("resolveServerPath", () => {
  const base: ResolveOptions = {
    configuredPath: "",
    lookup: (name) => (name === "runner" ? "/usr/bin/runner" : undefined),
    isExecutable: (f) => f === "/home/me/bin/runner" || f === "/w/target/debug/runner",
    homeDir: "/home/me",
    workspaceFolder: "/w",
    platform: "linux",
  };

  it("uses PATH when the setting is empty or blank", () => {
    assert.deepEqual(resolveServerPath(base), { ok: true, path: "/usr/bin/runner", source: "PATH" });
    assert.deepEqual(resolveServerPath({ ...base, configuredPath: "  " }), {
      ok: true,
      path: "/usr/bin/runner",
      source: "PATH",
    });
    assert.deepEqual(resolveServerPath({ ...base, configuredPath: undefined }), {
      ok: true,
      path: "/usr/bin/runner",
      source: "PATH",
    });
  });

  it("explains how to install when runner is not on PATH", () => {
    const r = resolveServerPath({ ...base, lookup: () => undefined });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : "", /Cannot find `runner` on PATH/);
    assert.match(!r.ok ? r.message : "", /cargo install --path crates\/runner/);
    assert.match(!r.ok ? r.message : "", /runner\.server\.path/);
  });

  it("prefers the setting over PATH", () => {
    assert.deepEqual(resolveServerPath({ ...base, configuredPath: "/home/me/bin/runner" }), {
      ok: true,
      path: "/home/me/bin/runner",
      source: "setting",
    });
  });

  it("expands ~ and resolves relative paths against the workspace folder", () => {
    assert.deepEqual(resolveServerPath({ ...base, configuredPath: "~/bin/runner" }), {
      ok: true,
      path: "/home/me/bin/runner",
      source: "setting",
    });
    assert.deepEqual(resolveServerPath({ ...base, configuredPath: "./target/debug/runner" }), {
      ok: true,
      path: "/w/target/debug/runner",
      source: "setting",
    });
  });

  it("does not fall back to PATH when the setting points nowhere", () => {
    const r = resolveServerPath({ ...base, configuredPath: "/nope/runner" });
    assert.deepEqual(r, {
      ok: false,
      message: "`runner.server.path` is `/nope/runner`, but there is no executable file at /nope/runner.",
    });
  });

  it("rejects a relative setting without a workspace folder", () => {
    const r = resolveServerPath({ ...base, configuredPath: "target/debug/runner", workspaceFolder: undefined });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : "", /relative/);
  });

  it("looks a bare command name up on PATH", () => {
    const lookup = (name: string): string | undefined => (name === "runner-dev" ? "/opt/runner-dev" : undefined);
    assert.deepEqual(resolveServerPath({ ...base, lookup, configuredPath: "runner-dev" }), {
      ok: true,
      path: "/opt/runner-dev",
      source: "setting",
    });
    assert.equal(resolveServerPath({ ...base, lookup, configuredPath: "runner-old" }).ok, false);
  });

  it("handles Windows paths", () => {
    const r = resolveServerPath({
      ...base,
      platform: "win32",
      configuredPath: "bin\\runner.exe",
      workspaceFolder: "C:\\w",
      isExecutable: (f) => f === "C:\\w\\bin\\runner.exe",
    });
    assert.deepEqual(r, { ok: true, path: "C:\\w\\bin\\runner.exe", source: "setting" });
  });
});

describe("argv", () => {
  it("starts the server with lsp then the extra arguments that are strings", () => {
    assert.deepEqual(serverArgs(undefined), ["lsp"]);
    assert.deepEqual(serverArgs("--verbose"), ["lsp"]);
    assert.deepEqual(serverArgs(["--log", "debug", 3, null]), ["lsp", "--log", "debug"]);
  });

  it("builds one step with the path and name as single argv elements", () => {
    assert.deepEqual(buildStepArgv("/w/my project/pipeline.toml", "train"), [
      "build",
      "--",
      "/w/my project/pipeline.toml",
      "train",
    ]);
    // Nothing is quoted or escaped: no shell ever sees these.
    assert.deepEqual(buildStepArgv("/w/$(rm -rf ~)'\"; x/pipeline.toml", "-j"), [
      "build",
      "--",
      "/w/$(rm -rf ~)'\"; x/pipeline.toml",
      "-j",
    ]);
  });
});

describe("command arguments", () => {
  it("takes the pipeline as a path or a file URI", () => {
    assert.equal(pipelinePathFromArg("/w/pipeline.toml"), "/w/pipeline.toml");
    assert.equal(pipelinePathFromArg("C:\\w\\pipeline.toml"), "C:\\w\\pipeline.toml");
    assert.equal(pipelinePathFromArg("c:/w/pipeline.toml"), "c:/w/pipeline.toml");
    assert.equal(pipelinePathFromArg("relative/pipeline.toml"), "relative/pipeline.toml");
    if (process.platform !== "win32") {
      assert.equal(pipelinePathFromArg("file:///w/my%20dir/pipeline.toml"), "/w/my dir/pipeline.toml");
    }
  });

  it("refuses what is not a local path", () => {
    for (const arg of [undefined, null, 3, "", "untitled:Untitled-1", "https://x/pipeline.toml", "file://host/x"]) {
      if (arg === "file://host/x" && process.platform === "win32") continue; // a UNC path there
      assert.equal(pipelinePathFromArg(arg), undefined, String(arg));
    }
  });

  it("takes the step name as a non-blank string", () => {
    assert.equal(stepNameFromArg("train"), "train");
    assert.equal(stepNameFromArg(""), undefined);
    assert.equal(stepNameFromArg("  "), undefined);
    assert.equal(stepNameFromArg(["train"]), undefined);
  });
});
