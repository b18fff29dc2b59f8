//! The `LanguageServer` implementation: notifications go to the database thread, requests
//! run on snapshots.
//!
//! Rules (see `shared/research/lsp-deps.md`): notifications only push a message, before any
//! `.await`; a request gets its snapshot through the same channel (so it sees every earlier
//! edit), moves it into `spawn_blocking` at once (no clone is ever held across an
//! `.await`), and runs under `salsa::Cancelled::catch` inside `catch_unwind`: a newer edit
//! answers the request with `ContentModified` (-32801), a panic with an internal error,
//! and the server keeps going. A request the client cancels (its future is dropped) cancels
//! its snapshot's salsa token.

use std::sync::Arc;
use std::sync::mpsc::Sender;

use salsa::Database as _;
use tower_lsp_server::jsonrpc::{self, ErrorCode};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::convert::Enc;
use crate::handlers;
use crate::state::{Msg, Shared, Snapshot};

/// The server.
pub struct Backend {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    test_hooks: bool,
}

impl Backend {
    pub fn new(
        client: Client,
        rt: tokio::runtime::Handle,
        test_hooks: bool,
    ) -> anyhow::Result<Backend> {
        let shared = Arc::new(Shared::new());
        let tx = crate::state::spawn(shared.clone(), client, rt)?;
        Ok(Backend { tx, shared, test_hooks })
    }

    fn send(&self, msg: Msg) {
        // Fails only when the database thread is gone, and then nothing can be done.
        let _ = self.tx.send(msg);
    }

    /// Runs `f` on a snapshot of `uri` (`Ok(None)`-like default when it is not open).
    async fn on_snapshot<R, F>(&self, uri: &Uri, f: F) -> jsonrpc::Result<R>
    where
        R: Default + Send + 'static,
        F: FnOnce(&Shared, &Snapshot) -> jsonrpc::Result<R> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Snapshot(uri.clone(), reply));
        let Some(snap) = rx.await.map_err(|_| internal("the server is shutting down"))? else {
            return Ok(R::default());
        };
        let token = snap.db.cancellation_token();
        let shared = self.shared.clone();
        let task = tokio::task::spawn_blocking(move || {
            let snap = snap;
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                salsa::Cancelled::catch(std::panic::AssertUnwindSafe(|| f(&shared, &snap)))
            }))
        });
        // If the client cancels the request, this future is dropped: stop the work too.
        let guard = CancelOnDrop(Some(token));
        let joined = task.await;
        guard.disarm();
        match joined {
            Ok(Ok(Ok(r))) => r,
            Ok(Ok(Err(_cancelled))) => Err(jsonrpc::Error {
                code: ErrorCode::ContentModified,
                message: "the document changed; the request was cancelled".into(),
                data: None,
            }),
            Ok(Err(panic)) => Err(internal(&format!("internal error: {}", panic_message(&panic)))),
            Err(e) => Err(internal(&format!("internal error: {e}"))),
        }
    }
}

struct CancelOnDrop(Option<salsa::CancellationToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

fn internal(message: &str) -> jsonrpc::Error {
    jsonrpc::Error {
        code: ErrorCode::InternalError,
        message: message.to_owned().into(),
        data: None,
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Parameters of `runner/testSlow` and `runner/testPanic`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestParams {
    text_document: TextDocumentIdentifier,
    #[serde(default)]
    millis: u64,
}

impl Backend {
    /// `runner/testPanic` (test hooks only).
    pub async fn test_panic(&self, p: TestParams) -> jsonrpc::Result<serde_json::Value> {
        if !self.test_hooks {
            return Err(jsonrpc::Error::method_not_found());
        }
        self.on_snapshot(&p.text_document.uri, |_, s| Ok(handlers::test_hooks::panic(s))).await
    }

    /// `runner/testSlow` (test hooks only).
    pub async fn test_slow(&self, p: TestParams) -> jsonrpc::Result<serde_json::Value> {
        if !self.test_hooks {
            return Err(jsonrpc::Error::method_not_found());
        }
        let ms = p.millis;
        self.on_snapshot(&p.text_document.uri, move |_, s| Ok(handlers::test_hooks::slow(s, ms)))
            .await
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        let caps = &params.capabilities;
        let utf8 = caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|e| e.contains(&PositionEncodingKind::UTF8));
        let enc = if utf8 { Enc::Utf8 } else { Enc::Utf16 };
        *self.shared.enc.lock().unwrap_or_else(|e| e.into_inner()) = enc;
        let ws = caps.workspace.as_ref();
        let refresh =
            ws.and_then(|w| w.code_lens.as_ref()).and_then(|c| c.refresh_support).unwrap_or(false);
        self.shared.code_lens_refresh.store(refresh, std::sync::atomic::Ordering::SeqCst);
        let watch = ws.and_then(|w| w.did_change_watched_files.as_ref());
        *self.shared.watch.lock().unwrap_or_else(|e| e.into_inner()) = (
            watch.and_then(|w| w.dynamic_registration).unwrap_or(false),
            watch.and_then(|w| w.relative_pattern_support).unwrap_or(false),
        );
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(match enc {
                    Enc::Utf8 => PositionEncodingKind::UTF8,
                    Enc::Utf16 => PositionEncodingKind::UTF16,
                }),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(
                        [".", "{", "\"", "[", "$", "="].iter().map(|s| (*s).to_owned()).collect(),
                    ),
                    ..CompletionOptions::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                document_symbol_provider: Some(OneOf::Left(true)),
                code_lens_provider: Some(CodeLensOptions { resolve_provider: Some(false) }),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "runner".to_owned(),
                version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        self.send(Msg::Open { uri: d.uri, version: d.version, text: d.text });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let d = params.text_document;
        self.send(Msg::Change { uri: d.uri, version: d.version, changes: params.content_changes });
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.send(Msg::Saved(params.text_document.uri));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.send(Msg::Close(params.text_document.uri));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let paths =
            params.changes.iter().filter_map(|c| crate::convert::uri_path(&c.uri)).collect();
        self.send(Msg::FilesChanged(paths));
    }

    async fn hover(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri.clone();
        self.on_snapshot(&uri, |sh, s| Ok(handlers::hover::handle(sh, s, params))).await
    }

    async fn completion(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
        let uri = params.text_document_position.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| Ok(handlers::completion::handle(s, params))).await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> jsonrpc::Result<Option<GotoDefinitionResponse>> {
        let uri = params.text_document_position_params.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| Ok(handlers::definition::handle(s, params))).await
    }

    async fn references(&self, params: ReferenceParams) -> jsonrpc::Result<Option<Vec<Location>>> {
        let uri = params.text_document_position.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| Ok(handlers::references::handle(s, params))).await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> jsonrpc::Result<Option<PrepareRenameResponse>> {
        let uri = params.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| handlers::rename::prepare(s, params)).await
    }

    async fn rename(&self, params: RenameParams) -> jsonrpc::Result<Option<WorkspaceEdit>> {
        let uri = params.text_document_position.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| handlers::rename::handle(s, params)).await
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> jsonrpc::Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| Ok(handlers::symbols::handle(s, params))).await
    }

    async fn code_action(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri.clone();
        self.on_snapshot(&uri, |_, s| Ok(handlers::code_action::handle(s, params))).await
    }

    async fn code_lens(&self, params: CodeLensParams) -> jsonrpc::Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri.clone();
        self.on_snapshot(&uri, |sh, s| Ok(handlers::code_lens::handle(sh, s, params))).await
    }
}
