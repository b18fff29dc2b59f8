//! Hover: documentation of keys (from `hir::schema`), summaries of what a name refers to,
//! what a placeholder expands to, and a step's key fields with their state.

use std::fmt::Write as _;

use hir::template::Kind;
use hir::{Db, FsState, ItemData, ItemKind, SourceFile, Target, schema};
use syntax::Span;

use crate::lens::{PlanView, StepState};
use crate::refs::{Hit, Symbol, hit_at};

/// A hover: Markdown and the span it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoverResult {
    /// Markdown.
    pub markdown: String,
    /// What the hover is about (absolute).
    pub span: Span,
}

/// The hover at `offset`. `plan` (the driver's plan, when known) adds a step's state.
pub fn hover(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
    plan: Option<&PlanView>,
) -> Option<HoverResult> {
    let hit = hit_at(db, file, offset)?;
    let span = hit.span();
    let markdown = match hit {
        Hit::Key { table, key, .. } => key_doc(table, &key)?,
        Hit::Table { table, .. } => table_doc(table)?,
        Hit::Path { rel, what, .. } => format!("**{what}** `{rel}`\n\n{}", fs_state(db, &rel)),
        Hit::Within { occ: o, .. } | Hit::Occ(o) => match o.placeholder {
            Some((_, kind)) => placeholder(db, file, &o.symbol, kind),
            None => symbol(db, file, &o.symbol, plan),
        },
    };
    Some(HoverResult { markdown, span })
}

/// A key's documentation.
pub fn key_doc(table: &str, key: &str) -> Option<String> {
    let spec = schema::table(table)?.key(key)?;
    let mut s = format!("**`{}`**: {}", spec.name, spec.ty.describe());
    match (spec.required, spec.default) {
        (true, _) => s.push_str(", required"),
        (false, Some(d)) if d.starts_with(['"', '[', '{']) || d == "true" || d == "false" => {
            let _ = write!(s, ", default `{d}`");
        }
        (false, Some(words)) => {
            let _ = write!(s, ", default: {words}");
        }
        (false, None) => s.push_str(", optional"),
    }
    let _ = write!(s, "\n\n{}\n\nExample: `{}`", spec.doc, spec.example);
    Some(s)
}

fn table_doc(table: &str) -> Option<String> {
    let t = schema::table(table)?;
    let header = if t.named { format!("[{}.NAME]", t.name) } else { format!("[{}]", t.name) };
    Some(format!("**`{header}`**\n\n{}\n\n```toml\n{}```", t.doc, t.example))
}

/// What the driver found at a path.
fn fs_state(db: &dyn Db, rel: &str) -> String {
    match db.fs_entry(rel).state(db) {
        FsState::Unknown => "not checked yet".to_owned(),
        FsState::Missing => "**not found**".to_owned(),
        FsState::File(d) => format!("file, sha256 `{}`", &d.to_hex()[..12]),
        FsState::Dir(Some(d)) => format!("folder, tree sha256 `{}`", &d.to_hex()[..12]),
        FsState::Dir(None) => "folder".to_owned(),
    }
}

fn find<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    kind: ItemKind,
    name: &str,
) -> Option<hir::Item<'db>> {
    hir::items(db, file).of_kind(kind).find(|it| it.name(db) == name)
}

/// Steps that read `target` (input name, step), in file order.
fn readers(db: &dyn Db, file: SourceFile, target: &Target) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in hir::items(db, file).of_kind(ItemKind::Step) {
        for (input, t) in &hir::resolve_step(db, file, item).inputs {
            if t == target {
                out.push((item.name(db).clone(), input.clone()));
            }
        }
    }
    out
}

fn list_readers(s: &mut String, readers: &[(String, String)]) {
    if readers.is_empty() {
        s.push_str("\n\nnot read by any step");
    } else {
        let list: Vec<String> =
            readers.iter().map(|(st, i)| format!("`{st}` (input `{i}`)")).collect();
        let _ = write!(s, "\n\nread by {}", list.join(", "));
    }
}

fn symbol(db: &dyn Db, file: SourceFile, sym: &Symbol, plan: Option<&PlanView>) -> String {
    let ix = hir::index(db, file);
    match sym {
        Symbol::Item(ItemKind::Step, name) => step(db, file, name, plan),
        Symbol::Item(ItemKind::Data, name) => {
            let mut s = format!("**data reference** `{name}`");
            match find(db, file, ItemKind::Data, name).map(|it| hir::lower_item(db, it)) {
                Some(hir::Lowered { data: Some(ItemData::Data(d)), .. }) => {
                    let _ = write!(s, "\n\ndatastore `{}`", d.datastore.value);
                    if let Some(p) = &d.path {
                        let _ = write!(s, ", path `{}`", p.value);
                    }
                    if let Some(Some(rel)) = ix.data.get(name) {
                        let _ = write!(s, "\n\n`{rel}`: {}", fs_state(db, rel));
                    }
                }
                _ => s.push_str("\n\n**not defined**"),
            }
            list_readers(&mut s, &readers(db, file, &Target::Data(name.clone())));
            s
        }
        Symbol::Item(ItemKind::Parameter, name) => parameter(db, file, name),
        Symbol::Item(ItemKind::Environment, name) => match ix.environments.get(name) {
            Some((python, req)) => {
                let mut s = format!("**environment** `{name}`\n\npython `{python}`");
                match req {
                    Some(r) => {
                        let _ = write!(s, ", requirements `{r}` ({})", fs_state(db, r));
                    }
                    None => s.push_str(", no requirements file"),
                }
                s
            }
            None => format!("**environment** `{name}`: **not defined**"),
        },
        Symbol::Item(ItemKind::Compute, name) => match ix.computes.get(name) {
            Some(info) => {
                let builtin = if name == schema::BUILTIN_COMPUTE
                    && find(db, file, ItemKind::Compute, name).is_none()
                {
                    " (built in: this machine)"
                } else {
                    ""
                };
                let max = info.max_nodes.map_or("the number of CPUs".to_owned(), |m| m.to_string());
                format!(
                    "**compute target** `{name}`{builtin}\n\nkind: {}\n\nmax_nodes: {max}",
                    info.kind
                )
            }
            None => format!("**compute target** `{name}`: **not defined**"),
        },
        Symbol::Item(ItemKind::Datastore, name) => match ix.datastores.get(name) {
            Some(folder) => {
                let builtin = if name == schema::BUILTIN_DATASTORE
                    && find(db, file, ItemKind::Datastore, name).is_none()
                {
                    " (built in: the pipeline's folder)"
                } else {
                    ""
                };
                format!("**datastore** `{name}`{builtin}\n\nlocal folder `{folder}`")
            }
            None => format!("**datastore** `{name}`: **not defined**"),
        },
        Symbol::Item(k @ (ItemKind::Pipeline | ItemKind::Cache), _) => {
            table_doc(k.table()).unwrap_or_default()
        }
        Symbol::Output { step, output } => {
            let declared = ix.steps.get(step).is_some_and(|o| o.contains(output));
            let mut s = format!("**output** `{output}` of step `{step}`");
            if !declared {
                s.push_str(": **not declared**");
                return s;
            }
            s.push_str("\n\na folder, created empty before the step runs; its content is cached");
            list_readers(
                &mut s,
                &readers(db, file, &Target::Output { step: step.clone(), output: output.clone() }),
            );
            s
        }
        Symbol::Input { step, input } => {
            let mut s = format!("**input** `{input}` of step `{step}`");
            let bound = find(db, file, ItemKind::Step, step).and_then(|it| {
                hir::resolve_step(db, file, it).inputs.iter().find(|(n, _)| n == input).cloned()
            });
            match bound {
                Some((_, t)) => {
                    let _ = write!(s, "\n\n{}", describe_target(db, file, &t));
                }
                None => s.push_str("\n\nunresolved"),
            }
            s
        }
    }
}

fn describe_target(db: &dyn Db, file: SourceFile, t: &Target) -> String {
    match t {
        Target::Data(d) => match hir::index(db, file).data.get(d) {
            Some(Some(rel)) => format!("data reference `{d}`: `{rel}` ({})", fs_state(db, rel)),
            _ => format!("data reference `{d}`"),
        },
        Target::Output { step, output } => format!("output `{output}` of step `{step}`"),
    }
}

fn parameter(db: &dyn Db, file: SourceFile, name: &str) -> String {
    let mut s = format!("**parameter** `{name}`");
    let Some(item) = find(db, file, ItemKind::Parameter, name) else {
        s.push_str(": **not defined**");
        return s;
    };
    if let Some(ItemData::Parameter(p)) = &hir::lower_item(db, item).data {
        if let Some(d) = &p.default {
            let _ = write!(s, ": {} = `{}`", d.value.type_name(), d.value.canonical());
        }
        if let Some(desc) = &p.description {
            let _ = write!(s, "\n\n{desc}");
        }
    }
    if let Some(v) = hir::param_values(db, file).values.get(name) {
        let default = match &hir::lower_item(db, item).data {
            Some(ItemData::Parameter(p)) => p.default.as_ref().map(|d| d.value.clone()),
            _ => None,
        };
        if default.as_ref() != Some(v) {
            let _ = write!(s, "\n\nthis run: `{}`", v.canonical());
        }
    }
    let users: Vec<String> = hir::items(db, file)
        .of_kind(ItemKind::Step)
        .filter(|it| hir::resolve_step(db, file, *it).params_used.iter().any(|p| p == name))
        .map(|it| format!("`{}`", it.name(db)))
        .collect();
    if users.is_empty() {
        s.push_str("\n\nnot used by any step");
    } else {
        let _ = write!(s, "\n\nused by {}", users.join(", "));
    }
    s
}

fn placeholder(db: &dyn Db, file: SourceFile, sym: &Symbol, kind: Kind) -> String {
    let text = format!("${{{}.{}}}", kind.as_str(), sym.name());
    match sym {
        Symbol::Item(_, name) => match hir::param_values(db, file).values.get(name) {
            Some(v) => {
                format!("`{text}` expands to `{}`\n\n{}", v.canonical(), parameter(db, file, name))
            }
            None => format!("`{text}`: the pipeline has no parameter `{name}` with a value"),
        },
        Symbol::Input { step, input } => {
            let bound = find(db, file, ItemKind::Step, step).and_then(|it| {
                hir::resolve_step(db, file, it).inputs.iter().find(|(n, _)| n == input).cloned()
            });
            match bound {
                Some((_, Target::Data(d))) => match hir::index(db, file).data.get(&d) {
                    Some(Some(rel)) => format!(
                        "`{text}` expands to the path of data reference `{d}`: `{rel}` \
                         (relative to the pipeline's folder; {})",
                        fs_state(db, rel)
                    ),
                    _ => format!("`{text}` expands to the path of data reference `{d}`"),
                },
                Some((_, Target::Output { step: up, output })) => format!(
                    "`{text}` expands to the folder of output `{output}` of step `{up}` \
                     (its recorded result, read only)"
                ),
                None => format!("`{text}`: step `{step}` has no resolved input `{input}`"),
            }
        }
        Symbol::Output { step, output } => format!(
            "`{text}` expands to the folder of output `{output}` of step `{step}`: \
             created empty before the step runs; what the step writes there is cached"
        ),
    }
}

/// A step: what it runs, its inputs and outputs, its key fields and their state.
fn step(db: &dyn Db, file: SourceFile, name: &str, plan: Option<&PlanView>) -> String {
    let mut s = format!("**step** `{name}`");
    let Some(item) = find(db, file, ItemKind::Step, name) else {
        s.push_str(": **not defined**");
        return s;
    };
    let state = plan.and_then(|p| p.get(name));
    if let Some(st) = state {
        let _ = write!(s, "\n\n**{}**", st.title());
    }
    let Some(step) = hir::lower_item(db, item).step() else { return s };
    if let Some(sc) = &step.script {
        let _ = write!(s, "\n\nscript `{}` in `{}`", sc.value, step.source_directory());
    } else if let Some(c) = &step.command {
        let argv: Vec<&str> = c.iter().map(|a| a.value.as_str()).collect();
        let _ = write!(s, "\n\ncommand `{}`", argv.join(" "));
    }
    let resolved = hir::resolve_step(db, file, item);
    if !resolved.deps.is_empty() {
        let deps: Vec<String> = resolved.deps.iter().map(|d| format!("`{d}`")).collect();
        let _ = write!(s, "\n\nruns after {}", deps.join(", "));
    }
    if !step.outputs.is_empty() {
        let outs: Vec<String> = step.outputs.iter().map(|o| format!("`{}`", o.value)).collect();
        let _ = write!(s, "\n\noutputs {}", outs.join(", "));
    }
    match hir::step_key_fields(db, file, item) {
        Err(hir::KeyError::Invalid) => s.push_str("\n\nkey: not computed (the step has errors)"),
        Err(hir::KeyError::NoDigest(p)) => {
            let _ = write!(s, "\n\nkey: not computed (`{p}` is not hashed: missing?)");
        }
        Ok(k) => {
            let reasons: &[String] = match state {
                Some(StepState::Run(r)) => r,
                _ => &[],
            };
            let status = |prefix: &str| -> &'static str {
                match state {
                    Some(StepState::NeverRun) => "new",
                    Some(StepState::Reuse { .. }) => "same",
                    Some(StepState::Run(_)) => {
                        if reasons.iter().any(|r| r.starts_with(prefix)) {
                            "**changed**"
                        } else {
                            "same"
                        }
                    }
                    Some(StepState::AfterUpstream(_)) if prefix.starts_with("input ") => {
                        "upstream runs first"
                    }
                    _ => "",
                }
            };
            s.push_str("\n\n| key field | value | state |\n|---|---|---|\n");
            let mut row = |field: String, value: String, prefix: String| {
                let value = value.replace('|', "\\|");
                let _ = writeln!(s, "| {field} | {value} | {} |", status(&prefix));
            };
            if let Some((p, d)) = &k.script {
                row("script".into(), format!("`{p}` `{}`", short(d)), "script".into());
            }
            for (p, d) in &k.modules {
                let prefix = format!("helper module {p}");
                row("helper module".into(), format!("`{p}` `{}`", short(d)), prefix);
            }
            if let Some(c) = &k.command {
                row("command".into(), format!("`{}`", c.join(" ")), "command".into());
            }
            for (p, d) in &k.hash_paths {
                row(
                    format!("hash_paths `{p}`"),
                    format!("`{}`", short(d)),
                    format!("hash_paths {p} "),
                );
            }
            for (p, v) in &k.params {
                row(format!("params.{p}"), format!("`{v}`"), format!("params.{p} "));
            }
            for (input, data, d) in &k.data_inputs {
                row(
                    format!("input `{input}`"),
                    format!("data.{data} `{}`", short(d)),
                    format!("input {input} "),
                );
            }
            for u in &k.upstream_inputs {
                row(
                    format!("input `{}`", u.input),
                    format!("steps.{}.outputs.{}", u.step, u.output),
                    format!("input {} ", u.input),
                );
            }
            if let Some((e, d)) = &k.environment {
                row("environment".into(), format!("`{e}` `{}`", short(d)), "environment".into());
            }
            for (n, v) in &k.env_vars {
                row(format!("env `{n}`"), format!("`{v}`"), format!("env {n} "));
            }
            if !k.arguments.is_empty() {
                row("arguments".into(), format!("`{}`", k.arguments.join(" ")), "arguments".into());
            }
        }
    }
    s
}

fn short(d: &hir::Digest) -> String {
    d.to_hex()[..12].to_owned()
}

/// Whether `offset` is on a step's name in its header (where hover shows the step's plan
/// state, so the caller knows when computing the plan is worth it).
pub fn step_header_at(db: &dyn Db, file: SourceFile, offset: u32) -> bool {
    matches!(
        hit_at(db, file, offset),
        Some(Hit::Occ(crate::refs::Occurrence {
            symbol: Symbol::Item(ItemKind::Step, _),
            role: crate::refs::Role::Definition | crate::refs::Role::Header,
            ..
        }))
    )
}
