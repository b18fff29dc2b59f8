#!/usr/bin/env python3
"""Time `textDocument/codeLens` after each edit, as an editor asks for lenses while typing.

    lsp_lenses.py RUNNER DIR EDITS

Starts `RUNNER lsp` (a real client: pygls, as in tests/lsp), opens DIR/pipeline.toml, asks
for code lenses, then EDITS times: change the document (a comment appended, so every step
is planned again against `.runner/`) and ask again. Prints the first and the median,
fastest and slowest after an edit, in milliseconds.
"""
import asyncio
import pathlib
import sys
import time

from lsprotocol import types as t
from pygls.lsp.client import BaseLanguageClient


async def main(runner: str, folder: str, edits: int) -> None:
    c = BaseLanguageClient("lsp-lenses", "1")
    c.feature("textDocument/publishDiagnostics")(lambda *_: None)
    await c.start_io(runner, "lsp")
    root = pathlib.Path(folder).resolve()
    await c.initialize_async(
        t.InitializeParams(capabilities=t.ClientCapabilities(), root_uri=root.as_uri())
    )
    c.initialized(t.InitializedParams())
    uri = (root / "pipeline.toml").as_uri()
    text = (root / "pipeline.toml").read_text()
    c.text_document_did_open(
        t.DidOpenTextDocumentParams(t.TextDocumentItem(uri=uri, language_id="toml", version=1, text=text))
    )
    times, lenses = [], 0
    for i in range(edits + 1):
        if i:
            c.text_document_did_change(
                t.DidChangeTextDocumentParams(
                    t.VersionedTextDocumentIdentifier(version=i + 1, uri=uri),
                    [t.TextDocumentContentChangeWholeDocument(text=text + f"\n# edit {i}\n")],
                )
            )
        t0 = time.monotonic()
        r = await c.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri)))
        times.append((time.monotonic() - t0) * 1000)
        lenses = len(r or [])
    await c.shutdown_async(None)
    c.exit(None)
    await c.stop()
    rest = sorted(times[1:])
    print(
        f"{lenses} lenses: first {times[0]:.1f} ms; after an edit: median {rest[len(rest) // 2]:.1f} ms,"
        f" fastest {rest[0]:.1f}, slowest {rest[-1]:.1f} ({len(rest)} edits)"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
