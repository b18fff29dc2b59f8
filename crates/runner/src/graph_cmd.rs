//! `runner graph`: the step graph as Graphviz dot or a Mermaid flowchart; with `--data`,
//! also the data references steps read, and each edge labelled with the output it carries
//! and the input it feeds (`split → data`), as the example's diagram draws them.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use driver::Project;

/// Graph output format.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// One edge: from a step (or a data reference, `data.NAME`) to a step, with its label.
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
}

/// The edges of the graph: step → step, and with `data` data reference → step, labelled
/// `OUTPUT → INPUT` (a data reference's edge: its input's name).
fn edges(project: &Project, data: bool) -> (Vec<String>, Vec<String>, Vec<Edge>) {
    let g = hir::step_graph(&project.db, project.file);
    let items = driver::steps_by_name(&project.db, project.file);
    let mut refs = Vec::new();
    let mut out = Vec::new();
    for (i, name) in g.order.iter().enumerate() {
        let step = items.get(name.as_str()).and_then(|it| hir::lower_item(&project.db, *it).step());
        if !data {
            out.extend(g.deps[i].iter().map(|&d| Edge {
                from: g.order[d].clone(),
                to: name.clone(),
                label: None,
            }));
            continue;
        }
        for input in step.map(|s| s.inputs.as_slice()).unwrap_or_default() {
            let r = input.reference.value.as_str();
            let (from, label) = if let Some(rest) = r.strip_prefix("steps.") {
                let Some((up, output)) = rest.split_once(".outputs.") else { continue };
                (up.to_owned(), format!("{output} → {}", input.name.value))
            } else if r.starts_with("data.") {
                if !refs.iter().any(|x| x == r) {
                    refs.push(r.to_owned());
                }
                (r.to_owned(), input.name.value.clone())
            } else {
                continue;
            };
            out.push(Edge { from, to: name.clone(), label: Some(label) });
        }
    }
    (g.order.clone(), refs, out)
}

/// `runner graph PATH --format F [--data]`.
pub(crate) fn graph(path: &Path, format: GraphFormat, data: bool) -> anyhow::Result<ExitCode> {
    let project = Project::load(path, Vec::new())?;
    let (steps, refs, edges) = edges(&project, data);
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    // Mermaid ids: letters, digits, `_`; a data reference's dot becomes `__`.
    let id = |s: &str| s.replace('.', "__").replace('-', "_");
    let mut out = String::new();
    match format {
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{\n  rankdir=LR;", q(&project.name()));
            for r in &refs {
                let _ = writeln!(out, "  \"{}\" [shape=cylinder];", q(r));
            }
            for s in &steps {
                let _ = writeln!(out, "  \"{}\";", q(s));
            }
            for e in &edges {
                let label = e.label.as_ref().map(|l| format!(" [label=\"{}\"]", q(l)));
                let _ = writeln!(
                    out,
                    "  \"{}\" -> \"{}\"{};",
                    q(&e.from),
                    q(&e.to),
                    label.unwrap_or_default()
                );
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            for r in &refs {
                let _ = writeln!(out, "  {}[({r})]", id(r));
            }
            for s in &steps {
                let _ = writeln!(out, "  {}", id(s));
            }
            for e in &edges {
                let label = e.label.as_ref().map(|l| format!("|\"{}\"|", l.replace('"', "'")));
                let _ = writeln!(
                    out,
                    "  {} -->{} {}",
                    id(&e.from),
                    label.unwrap_or_default(),
                    id(&e.to)
                );
            }
        }
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}
