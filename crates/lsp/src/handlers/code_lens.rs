//! `textDocument/codeLens`: above each step header, what a build would do now (the
//! driver's plan against `.runner/`, read only, for the editor's buffer and the files on
//! disk), and "▶ build step" (command `runner.buildStep`, arguments [pipeline path, step]).

use tower_lsp_server::ls_types::{CodeLens, CodeLensParams, Command};

use crate::plan;
use crate::state::{Shared, Snapshot};

/// The command the "build step" lens runs (the editor extension implements it).
pub const BUILD_STEP: &str = "runner.buildStep";

pub fn handle(shared: &Shared, snap: &Snapshot, _params: CodeLensParams) -> Option<Vec<CodeLens>> {
    let plan = plan::plan(shared, snap);
    let pipeline = snap.path.as_ref().map(|p| p.display().to_string());
    let lenses = ide::code_lenses(&snap.db, snap.file, plan.as_deref());
    Some(
        lenses
            .into_iter()
            .filter_map(|l| {
                let command = match &l.build_step {
                    Some(step) => Command {
                        title: l.title.clone(),
                        command: BUILD_STEP.to_owned(),
                        arguments: Some(vec![pipeline.clone()?.into(), step.clone().into()]),
                    },
                    // A label: clients show it and do nothing on click.
                    None => {
                        Command { title: l.title.clone(), command: String::new(), arguments: None }
                    }
                };
                Some(CodeLens { range: snap.range(l.span), command: Some(command), data: None })
            })
            .collect(),
    )
}
