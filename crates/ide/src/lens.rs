//! Code lenses: above each step header, what a build would do now, and a "build step"
//! action. The plan itself comes from the caller (the language server computes it with the
//! driver's planning rules from `.runner/`); this module only words it.

use std::collections::BTreeMap;

use hir::{Db, ItemKind, SourceFile};
use syntax::Span;

/// What a build would do with one step, as the driver plans it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Reused from a recorded run.
    Reuse {
        /// The run.
        run_id: i64,
        /// How long ago that run ended (or started), in seconds, when known.
        age_secs: Option<u64>,
    },
    /// Runs, for these reasons (the driver's dirty reasons, as text).
    Run(Vec<String>),
    /// Runs because it never ran before.
    NeverRun,
    /// Runs after this upstream step runs (unless it reproduces its outputs).
    AfterUpstream(String),
    /// Cannot be planned: why.
    Blocked(String),
}

impl StepState {
    /// The lens title: `reuse: run 7 (2 h ago)`, `will run: params.C 1.0 → 0.5`, …
    pub fn title(&self) -> String {
        match self {
            StepState::Reuse { run_id, age_secs: Some(s) } => {
                format!("reuse: run {run_id} ({})", ago(*s))
            }
            StepState::Reuse { run_id, age_secs: None } => format!("reuse: run {run_id}"),
            StepState::Run(reasons) => format!("will run: {}", reasons.join(", ")),
            StepState::NeverRun => "never run".to_owned(),
            StepState::AfterUpstream(up) => format!("will run after upstream {up}"),
            StepState::Blocked(why) => format!("blocked: {why}"),
        }
    }
}

/// `just now`, `5 min ago`, `2 h ago`, `3 days ago`.
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..172_800 => "1 day ago".to_owned(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The plan of every step, by name.
pub type PlanView = BTreeMap<String, StepState>;

/// One lens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lens {
    /// The step header's name (absolute).
    pub span: Span,
    /// The text shown.
    pub title: String,
    /// For the "build step" lens: the step to build.
    pub build_step: Option<String>,
}

/// Two lenses per step, in file order: its plan state (when `plan` has it; with the
/// compute target it runs on, `· on cluster (slurm)`, when that is not this machine) and
/// "▶ build step".
pub fn code_lenses(db: &dyn Db, file: SourceFile, plan: Option<&PlanView>) -> Vec<Lens> {
    let mut out = Vec::new();
    let computes = &hir::index(db, file).computes;
    for item in hir::items(db, file).of_kind(ItemKind::Step) {
        let name = item.name(db);
        let span = item.name_span(db);
        if let Some(state) = plan.and_then(|p| p.get(name)) {
            let mut title = state.title();
            let compute = hir::lower_item(db, item).step().and_then(|s| s.compute.as_ref());
            if let Some(c) = compute
                && let Some(info) = computes.get(&c.value)
                && info.kind != "local"
            {
                title.push_str(&format!(" · on {} ({})", c.value, info.kind));
            }
            out.push(Lens { span, title, build_step: None });
        }
        out.push(Lens { span, title: "▶ build step".to_owned(), build_step: Some(name.clone()) });
    }
    out
}
