// The runner extension: starts `runner lsp` for pipeline files and runs `runner build` for
// the "▶ build step" code lenses the server puts above each step.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import {
  DOCUMENT_SELECTOR,
  PIPELINE_GLOB,
  buildStepArgv,
  findOnPath,
  matchesPipelineDocument,
  pipelinePathFromArg,
  resolveServerPath,
  serverArgs,
  stepNameFromArg,
  type ServerResolution,
} from "./util";

let output: vscode.LogOutputChannel | undefined;
let client: LanguageClient | undefined;
/** Start, stop and restart run one at a time, in order. */
let lifecycle: Promise<void> = Promise.resolve();
/** Set once the user has a pipeline file; before that we do not start anything. */
let wanted = false;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("runner", { log: true });
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("runner.buildStep", buildStep),
    vscode.commands.registerCommand("runner.restartServer", () => {
      wanted = true;
      return enqueue(restart);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (wanted && e.affectsConfiguration("runner.server")) void enqueue(restart);
    }),
    vscode.workspace.onDidOpenTextDocument((doc) => {
      if (!wanted && isPipelineDocument(doc)) {
        wanted = true;
        void enqueue(start);
      }
    }),
  );

  // We activate on any TOML file (so a pipeline opened later is served), but only start
  // the server, and only complain about a missing `runner`, once there is a pipeline.
  if (vscode.workspace.textDocuments.some(isPipelineDocument) || (await workspaceHasPipeline())) {
    wanted = true;
    await enqueue(start);
  }
}

export function deactivate(): Promise<void> {
  return enqueue(stop);
}

function enqueue(task: () => Promise<void>): Promise<void> {
  lifecycle = lifecycle.then(task, task);
  return lifecycle;
}

function isPipelineDocument(doc: vscode.TextDocument): boolean {
  return matchesPipelineDocument({
    scheme: doc.uri.scheme,
    languageId: doc.languageId,
    fileName: doc.fileName,
  });
}

async function workspaceHasPipeline(): Promise<boolean> {
  if (!vscode.workspace.workspaceFolders?.length) return false;
  const found = await vscode.workspace.findFiles(PIPELINE_GLOB, "**/node_modules/**", 1);
  return found.length > 0;
}

function resolveRunner(): ServerResolution {
  const config = vscode.workspace.getConfiguration("runner");
  const isExecutable = (file: string): boolean => {
    try {
      if (!fs.statSync(file).isFile()) return false;
      fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return resolveServerPath({
    configuredPath: config.get<string>("server.path"),
    lookup: (name) => findOnPath(name, { platform: process.platform, env: process.env, isExecutable }),
    isExecutable,
    homeDir: os.homedir(),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    platform: process.platform,
  });
}

async function reportMissingRunner(message: string): Promise<void> {
  output?.error(message);
  const choice = await vscode.window.showErrorMessage(`runner: ${message}`, "Open settings");
  if (choice === "Open settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "runner.server.path");
  }
}

async function start(): Promise<void> {
  if (client) return;
  const runner = resolveRunner();
  if (!runner.ok) {
    // Not awaited: the notification stays up without holding back the lifecycle queue.
    void reportMissingRunner(runner.message);
    return;
  }
  const args = serverArgs(vscode.workspace.getConfiguration("runner").get("server.extraArgs"));
  output?.info(`starting ${runner.path} ${args.join(" ")} (from ${runner.source})`);
  const serverOptions: ServerOptions = {
    command: runner.path,
    args,
    options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: DOCUMENT_SELECTOR,
    outputChannel: output,
  };
  let c: LanguageClient | undefined;
  try {
    // The id `runner` makes the client read the `runner.trace.server` setting.
    c = new LanguageClient("runner", "runner", serverOptions, clientOptions);
    await c.start();
    client = c;
  } catch (err) {
    output?.error(`runner lsp failed to start: ${String(err)}`);
    await c?.dispose().catch(() => undefined);
    void vscode.window
      .showErrorMessage(`runner: the language server failed to start (${runner.path}).`, "Show output")
      .then((choice) => {
        if (choice === "Show output") output?.show();
      });
  }
}

async function stop(): Promise<void> {
  const c = client;
  client = undefined;
  if (!c) return;
  try {
    await c.stop();
  } catch (err) {
    output?.warn(`stopping runner lsp: ${String(err)}`);
  }
  await c.dispose().catch(() => undefined);
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

/**
 * `runner.buildStep [pipelinePath, stepName]`, sent by the "▶ build step" code lens. From the
 * command palette it builds from the active pipeline file and asks for the step.
 */
async function buildStep(pipelineArg?: unknown, stepArg?: unknown): Promise<void> {
  let pipeline = pipelinePathFromArg(pipelineArg);
  if (pipeline === undefined && pipelineArg instanceof vscode.Uri && pipelineArg.scheme === "file") {
    pipeline = pipelineArg.fsPath;
  }
  const active = vscode.window.activeTextEditor?.document;
  if (pipeline === undefined && active && isPipelineDocument(active)) pipeline = active.fileName;
  if (pipeline === undefined) {
    void vscode.window.showErrorMessage("runner: open a pipeline.toml file to build one of its steps.");
    return;
  }
  const step =
    stepNameFromArg(stepArg) ??
    stepNameFromArg(
      await vscode.window.showInputBox({
        title: "runner: build step",
        prompt: `Step of ${path.basename(pipeline)} to build, with everything it needs`,
      }),
    );
  if (step === undefined) return;

  const runner = resolveRunner();
  if (!runner.ok) {
    await reportMissingRunner(runner.message);
    return;
  }

  // `runner build` reads the file from disk: build what the user sees.
  const open = vscode.workspace.textDocuments.find(
    (d) => d.uri.scheme === "file" && d.fileName === pipeline,
  );
  if (open?.isDirty) await open.save();

  const uri = vscode.Uri.file(pipeline);
  const task = new vscode.Task(
    { type: "runner", pipeline, step },
    vscode.workspace.getWorkspaceFolder(uri) ?? vscode.TaskScope.Workspace,
    `build ${step}`,
    "runner",
    // A process, not a shell command line: the argv needs no quoting for any shell.
    new vscode.ProcessExecution(runner.path, buildStepArgv(pipeline, step), {
      cwd: path.dirname(pipeline),
    }),
    [],
  );
  task.presentationOptions = {
    reveal: vscode.TaskRevealKind.Always,
    panel: vscode.TaskPanelKind.Shared,
    clear: true,
    echo: true,
  };
  await vscode.tasks.executeTask(task);
}
