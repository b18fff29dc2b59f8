"""End-to-end tests of `runner lsp` with pytest-lsp (a client written by others).

The server is the built binary (RUNNER_BIN, default target/debug/runner). Each test gets a
fresh server and a pipeline folder on disk.
"""

import os
import pathlib
import subprocess

import pytest
import pytest_lsp
from lsprotocol import types as t
from pytest_lsp import ClientServerConfig, LanguageClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = os.environ.get("RUNNER_BIN", str(ROOT / "target" / "debug" / "runner"))

PIPELINE = """\
[parameters]
n = 1

[data.raw]
path = "raw.csv"

[steps.make]
command = ["sh", "-c", "cat \\"$0\\" > \\"$1/x\\"; echo $2 >> \\"$1/x\\"", "${inputs.raw}", "${outputs.o}", "${params.n}"]
inputs = { raw = "data.raw" }
outputs = ["o"]

[steps.use]
command = ["sh", "-c", "cat \\"$0/x\\" > \\"$1/y\\"", "${inputs.i}", "${outputs.p}"]
inputs = { i = "steps.make.outputs.oo" }
outputs = ["p"]
"""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[RUNNER, "lsp", "--stdio"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        t.InitializeParams(capabilities=t.ClientCapabilities(), process_id=None, root_uri=None)
    )
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path):
    (tmp_path / "raw.csv").write_text("1,2\n")
    path = tmp_path / "pipeline.toml"
    path.write_text(PIPELINE)
    return path


def pos(text, needle, delta=0):
    at = text.index(needle)
    line = text.count("\n", 0, at)
    col = len(text[:at].rsplit("\n", 1)[-1].encode("utf-16-le")) // 2
    return t.Position(line=line, character=col + delta)


def tdpp(uri, text, needle, delta=0):
    return dict(text_document=t.TextDocumentIdentifier(uri=uri), position=pos(text, needle, delta))


async def open_doc(client, path, text=None):
    uri = path.as_uri()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(
                uri=uri, language_id="toml", version=1, text=text or path.read_text()
            )
        )
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def change(client, uri, version, text):
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)


async def test_diagnostics_on_open_and_edit(client: LanguageClient, project):
    uri = await open_doc(client, project)
    diags = client.diagnostics[uri]
    assert [(d.code, d.range.start.line) for d in diags] == [("E0102", 13)], diags
    assert "steps.make.outputs.oo" in diags[0].message
    assert diags[0].severity == t.DiagnosticSeverity.Error
    fixed = PIPELINE.replace("outputs.oo", "outputs.o")
    await change(client, uri, 2, fixed)
    assert list(client.diagnostics[uri]) == []
    await change(client, uri, 3, fixed.replace('outputs = ["p"]', 'outputs = ["p", "p"]'))
    diags = client.diagnostics[uri]
    assert [d.code for d in diags] == ["E0108"]
    assert len(diags[0].related_information) == 1


async def test_hover(client: LanguageClient, project):
    uri = await open_doc(client, project)
    h = await client.text_document_hover_async(t.HoverParams(**tdpp(uri, PIPELINE, "command", 2)))
    assert h.contents.value.startswith("**`command`**"), h
    h = await client.text_document_hover_async(t.HoverParams(**tdpp(uri, PIPELINE, "params.n", 2)))
    assert "expands to `1`" in h.contents.value, h
    h = await client.text_document_hover_async(t.HoverParams(**tdpp(uri, PIPELINE, "data.raw", 6)))
    assert "**data reference** `raw`" in h.contents.value, h


async def test_completion(client: LanguageClient, project):
    text = PIPELINE.replace('"${inputs.i}"', '"${outputs."')
    uri = await open_doc(client, project, text)
    r = await client.text_document_completion_async(
        t.CompletionParams(**tdpp(uri, text, '${outputs."', 10))
    )
    items = r.items if hasattr(r, "items") else r
    assert [i.label for i in items] == ["p"]
    # Keys of a step not yet present.
    text = PIPELINE.replace('outputs = ["p"]\n', 'outputs = ["p"]\nall\n')
    await change(client, uri, 2, text)
    r = await client.text_document_completion_async(t.CompletionParams(**tdpp(uri, text, "all\n", 3)))
    items = r.items if hasattr(r, "items") else r
    labels = [i.label for i in items]
    assert "allow_reuse" in labels and "command" not in labels, labels


async def test_definition_and_rename(client: LanguageClient, project):
    text = PIPELINE.replace("outputs.oo", "outputs.o")
    uri = await open_doc(client, project, text)
    r = await client.text_document_definition_async(
        t.DefinitionParams(**tdpp(uri, text, "steps.make.outputs", 7))
    )
    loc = r[0] if isinstance(r, list) else r
    assert loc.range.start == pos(text, "make]"), r
    edit = await client.text_document_rename_async(
        t.RenameParams(new_name="produce", **tdpp(uri, text, "make]"))
    )
    edits = edit.changes[uri]
    assert len(edits) == 2 and all(e.new_text == "produce" for e in edits), edits
    edit = await client.text_document_rename_async(
        t.RenameParams(new_name="count", **tdpp(uri, text, "params.n", 7))
    )
    assert len(edit.changes[uri]) == 2


async def test_code_lens_follows_builds_and_edits(client: LanguageClient, project):
    text = PIPELINE.replace("outputs.oo", "outputs.o")
    project.write_text(text)
    uri = await open_doc(client, project, text)

    async def lenses():
        r = await client.text_document_code_lens_async(
            t.CodeLensParams(text_document=t.TextDocumentIdentifier(uri=uri))
        )
        return [(l.range.start.line, l.command.title) for l in r if l.command.command != "runner.buildStep"]

    assert await lenses() == [(6, "never run"), (11, "will run after upstream make")]
    build = subprocess.run([RUNNER, "build", str(project.parent)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    got = await lenses()
    assert [title.split(" (")[0] for _, title in got] == ["reuse: run 1", "reuse: run 1"], got
    # The editor's buffer, not the file on disk, decides: change a parameter.
    await change(client, uri, 2, text.replace("n = 1", "n = 2"))
    assert await lenses() == [(6, "will run: command changed, params.n 1 → 2"), (11, "will run after upstream make")]
    r = await client.text_document_code_lens_async(
        t.CodeLensParams(text_document=t.TextDocumentIdentifier(uri=uri))
    )
    build_lens = [l for l in r if l.command.command == "runner.buildStep"]
    assert list(build_lens[0].command.arguments) == [str(project), "make"]


async def test_files_on_disk(client: LanguageClient, project):
    text = PIPELINE.replace("outputs.oo", "outputs.o").replace('[data.raw]\npath = "raw.csv"', '[data.raw]\npath = "later.csv"')
    uri = await open_doc(client, project, text)
    assert [d.code for d in client.diagnostics[uri]] == ["E0110"]
    (project.parent / "later.csv").write_text("3,4\n")
    client.workspace_did_change_watched_files(
        t.DidChangeWatchedFilesParams(
            changes=[t.FileEvent(uri=(project.parent / "later.csv").as_uri(), type=t.FileChangeType.Created)]
        )
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


async def test_symbols(client: LanguageClient, project):
    uri = await open_doc(client, project)
    r = await client.text_document_document_symbol_async(
        t.DocumentSymbolParams(text_document=t.TextDocumentIdentifier(uri=uri))
    )
    assert [s.name for s in r] == ["parameters", "data", "steps"]
    assert [s.name for s in r[2].children] == ["make", "use"]
