// Drives the extension against a fake `vscode` module (test/fake-vscode.ts): activation,
// the "runner not found" error and `runner.buildStep`. It loads out/src/extension.js by
// default; ci.sh points RUNNER_EXTENSION_MAIN at the esbuild bundle to check what ships.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import Module from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeDocument, FakeProcessExecution, type FakeOptions, fakeVscode } from "./fake-vscode";

const main = process.env["RUNNER_EXTENSION_MAIN"] ?? path.join(__dirname, "..", "src", "extension.js");

type Extension = {
  activate: (ctx: { subscriptions: unknown[] }) => Promise<void>;
  deactivate: () => Promise<void>;
};

// `Module._load` is how `require` reaches a module; swapping it is the usual way to
// provide `vscode`, which only exists inside the editor.
const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const realLoad = loader._load;

/** Loads a fresh copy of the extension against a fresh fake and activates it. */
async function activate(opts: FakeOptions): Promise<ReturnType<typeof fakeVscode> & { ext: Extension }> {
  const fake = fakeVscode(opts);
  loader._load = function (request: string, ...rest: unknown[]) {
    return request === "vscode" ? fake.module : realLoad.call(this, request, ...rest);
  };
  for (const key of Object.keys(require.cache)) {
    if (!key.startsWith(__dirname)) delete require.cache[key];
  }
  const ext = require(main) as Extension;
  await ext.activate({ subscriptions: [] });
  return { ...fake, ext };
}

let tmp: string;
let fakeRunner: string;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "runner-vscode-test-"));
  fakeRunner = path.join(tmp, "runner");
  fs.writeFileSync(fakeRunner, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
});

after(() => {
  loader._load = realLoad;
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("activation", () => {
  it("registers the commands and starts nothing without a pipeline", async () => {
    const { rec, ext } = await activate({ settings: {}, workspaceFolder: "/w" });
    assert.deepEqual([...rec.commands.keys()].sort(), ["runner.buildStep", "runner.restartServer"]);
    assert.deepEqual(rec.errors, []);
    assert.deepEqual(rec.logs, []);
    await ext.deactivate();
  });

  it("says how to fix a missing runner and opens the setting", async () => {
    const savedPath = process.env["PATH"];
    process.env["PATH"] = path.join(tmp, "empty");
    try {
      const { rec } = await activate({
        settings: { "runner.server.path": "" },
        textDocuments: [new FakeDocument("/w/pipeline.toml")],
        errorChoice: "Open settings",
        workspaceFolder: "/w",
      });
      await new Promise((r) => setImmediate(r));
      assert.equal(rec.errors.length, 1);
      assert.match(rec.errors[0]!.message, /^runner: Cannot find `runner` on PATH\. Install it with `cargo install --path crates\/runner`/);
      assert.deepEqual(rec.errors[0]!.items, ["Open settings"]);
      assert.deepEqual(rec.executed, [["workbench.action.openSettings", "runner.server.path"]]);
    } finally {
      process.env["PATH"] = savedPath;
    }
  });

  it("reports a server path that points nowhere", async () => {
    const { rec } = await activate({
      settings: { "runner.server.path": path.join(tmp, "nope") },
      workspaceFiles: ["/w/a.pipeline.toml"],
      workspaceFolder: "/w",
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(rec.errors.length, 1);
    assert.match(rec.errors[0]!.message, /^runner: `runner\.server\.path` is .*nope`, but there is no executable file/);
    assert.deepEqual(rec.errors[0]!.items, ["Open settings"]);
  });
});

describe("runner.buildStep", () => {
  it("runs `runner build -- <path> <step>` as a process task", async () => {
    const { rec } = await activate({ settings: { "runner.server.path": fakeRunner } });
    await rec.commands.get("runner.buildStep")!("/w/my dir/pipeline.toml", "train");
    assert.equal(rec.tasks.length, 1);
    const task = rec.tasks[0]!;
    assert.deepEqual(task.definition, { type: "runner", pipeline: "/w/my dir/pipeline.toml", step: "train" });
    assert.equal(task.name, "build train");
    assert.equal(task.source, "runner");
    assert.ok(task.execution instanceof FakeProcessExecution);
    assert.equal(task.execution.process, fakeRunner);
    assert.deepEqual(task.execution.args, ["build", "--", "/w/my dir/pipeline.toml", "train"]);
    assert.deepEqual(task.execution.options, { cwd: "/w/my dir" });
    assert.deepEqual(task.presentationOptions, { reveal: 1, panel: 1, clear: true, echo: true });
  });

  it("accepts a file URI and saves the pipeline first", async () => {
    const textDocuments: FakeDocument[] = [];
    const { rec } = await activate({ settings: { "runner.server.path": fakeRunner }, textDocuments });
    // Opened after activation, so the (fake-less) language client is not started.
    const doc = new FakeDocument("/w/x.pipeline.toml", "toml", true);
    textDocuments.push(doc);
    await rec.commands.get("runner.buildStep")!("file:///w/x.pipeline.toml", "prep");
    assert.deepEqual(rec.tasks[0]?.execution.args, ["build", "--", "/w/x.pipeline.toml", "prep"]);
    assert.equal(doc.saved, 1);
  });

  it("asks for the step of the active pipeline from the command palette", async () => {
    const active = new FakeDocument("/w/pipeline.toml");
    const { rec } = await activate({
      settings: { "runner.server.path": fakeRunner },
      activeDocument: active,
      inputBox: "evaluate",
    });
    await rec.commands.get("runner.buildStep")!();
    assert.equal(rec.inputBoxes, 1);
    assert.deepEqual(rec.tasks[0]?.execution.args, ["build", "--", "/w/pipeline.toml", "evaluate"]);
  });

  it("does nothing when the step prompt is dismissed", async () => {
    const { rec } = await activate({
      settings: { "runner.server.path": fakeRunner },
      activeDocument: new FakeDocument("/w/pipeline.toml"),
    });
    await rec.commands.get("runner.buildStep")!();
    assert.deepEqual(rec.tasks, []);
    assert.deepEqual(rec.errors, []);
  });

  it("needs a pipeline", async () => {
    const { rec } = await activate({
      settings: { "runner.server.path": fakeRunner },
      activeDocument: new FakeDocument("/w/Cargo.toml"),
    });
    await rec.commands.get("runner.buildStep")!();
    assert.deepEqual(rec.tasks, []);
    assert.match(rec.errors[0]?.message ?? "", /open a pipeline\.toml file/);
  });
});
