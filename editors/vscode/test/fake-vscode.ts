// A stand-in for the `vscode` module, enough to load the extension (and
// vscode-languageclient) in plain Node and drive its commands. Every name @types/vscode
// exports exists; the few the extension uses behave, and record what they were asked.

import * as fs from "node:fs";
import * as path from "node:path";

/** What the extension did, for the test to inspect. */
export interface Recorder {
  commands: Map<string, (...args: unknown[]) => unknown>;
  executed: unknown[][];
  errors: { message: string; items: string[] }[];
  tasks: FakeTask[];
  logs: string[];
  inputBoxes: number;
}

export interface FakeOptions {
  settings: Record<string, unknown>;
  textDocuments?: FakeDocument[];
  activeDocument?: FakeDocument;
  workspaceFolder?: string;
  workspaceFiles?: string[];
  /** The item the user clicks in error notifications. */
  errorChoice?: string;
  inputBox?: string;
}

export class FakeUri {
  constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(p: string): FakeUri {
    return new FakeUri("file", p);
  }
  static parse(s: string): FakeUri {
    const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(s);
    return m ? new FakeUri(m[1]!, m[2]!) : new FakeUri("file", s);
  }
  toString(): string {
    return `${this.scheme}://${this.fsPath}`;
  }
}

export class FakeDocument {
  saved = 0;
  constructor(
    readonly fileName: string,
    readonly languageId = "toml",
    public isDirty = false,
    readonly uri = FakeUri.file(fileName),
  ) {}
  async save(): Promise<boolean> {
    this.saved++;
    this.isDirty = false;
    return true;
  }
}

export class FakeProcessExecution {
  constructor(
    readonly process: string,
    readonly args: string[],
    readonly options?: { cwd?: string },
  ) {}
}

export class FakeTask {
  presentationOptions: unknown;
  constructor(
    readonly definition: Record<string, unknown>,
    readonly scope: unknown,
    readonly name: string,
    readonly source: string,
    readonly execution: FakeProcessExecution,
    readonly problemMatchers: string[],
  ) {}
}

const disposable = { dispose(): void {} };
const event = (): typeof disposable => disposable;

/** A class that accepts anything, for the names nothing here needs to behave. */
function anyClass(name: string): unknown {
  const c = class {
    constructor(...args: unknown[]) {
      Object.assign(this, { args });
    }
  };
  Object.defineProperty(c, "name", { value: name });
  return c;
}

/** An object whose every property exists (enums, namespaces nobody calls). */
function anyObject(name: string, kind: "value" | "function"): unknown {
  return new Proxy(
    {},
    {
      get: (_t, key) =>
        kind === "value" ? `${name}.${String(key)}` : (): typeof disposable => disposable,
    },
  );
}

/** Names exported by `declare module 'vscode'` in @types/vscode. */
function exportedNames(): { name: string; kind: string }[] {
  const dts = fs.readFileSync(
    path.join(require.resolve("@types/vscode/package.json"), "..", "index.d.ts"),
    "utf8",
  );
  return [...dts.matchAll(/^\s*export (class|enum|namespace) (\w+)/gm)].map((m) => ({
    kind: m[1]!,
    name: m[2]!,
  }));
}

export function fakeVscode(opts: FakeOptions): { module: Record<string, unknown>; rec: Recorder } {
  const rec: Recorder = {
    commands: new Map(),
    executed: [],
    errors: [],
    tasks: [],
    logs: [],
    inputBoxes: 0,
  };
  const mod: Record<string, unknown> = {};
  for (const { name, kind } of exportedNames()) {
    mod[name] =
      kind === "class" ? anyClass(name) : anyObject(name, kind === "enum" ? "value" : "function");
  }
  const log = (level: string) => (msg: string) => rec.logs.push(`${level}: ${msg}`);
  const folder =
    opts.workspaceFolder === undefined
      ? undefined
      : { uri: FakeUri.file(opts.workspaceFolder), name: "w", index: 0 };

  Object.assign(mod, {
    Uri: FakeUri,
    Task: FakeTask,
    ProcessExecution: FakeProcessExecution,
    Disposable: class {
      static from(): typeof disposable {
        return disposable;
      }
      dispose(): void {}
    },
    TaskScope: { Global: 1, Workspace: 2 },
    TaskRevealKind: { Always: 1, Silent: 2, Never: 3 },
    TaskPanelKind: { Shared: 1, Dedicated: 2, New: 3 },
    window: {
      createOutputChannel: () => ({
        info: log("info"),
        warn: log("warn"),
        error: log("error"),
        appendLine: log("line"),
        show: () => undefined,
        dispose: () => undefined,
      }),
      showErrorMessage: async (message: string, ...items: string[]) => {
        rec.errors.push({ message, items });
        return opts.errorChoice;
      },
      showInputBox: async () => {
        rec.inputBoxes++;
        return opts.inputBox;
      },
      get activeTextEditor() {
        return opts.activeDocument ? { document: opts.activeDocument } : undefined;
      },
    },
    commands: {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        rec.commands.set(id, fn);
        return disposable;
      },
      executeCommand: async (...args: unknown[]) => {
        rec.executed.push(args);
      },
    },
    workspace: {
      textDocuments: opts.textDocuments ?? [],
      workspaceFolders: folder ? [folder] : undefined,
      getWorkspaceFolder: () => folder,
      findFiles: async () => (opts.workspaceFiles ?? []).map((f) => FakeUri.file(f)),
      getConfiguration: (section: string) => ({
        get: (key: string, dflt?: unknown) => opts.settings[`${section}.${key}`] ?? dflt,
      }),
      onDidChangeConfiguration: event,
      onDidOpenTextDocument: event,
    },
    tasks: {
      executeTask: async (task: FakeTask) => {
        rec.tasks.push(task);
      },
    },
  });
  return { module: mod, rec };
}
