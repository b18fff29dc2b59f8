//! A run's step graph as SVG, drawn on the server so it is in the page's HTML (readable
//! without JavaScript, and by any client).
//!
//! Layout: a layered drawing, left to right. Data references are the first column; a step's
//! column is one more than the furthest of its upstream steps (one past the data column
//! when it reads none), and a column lists its nodes in the pipeline's order. Edges are
//! curves from an upstream node's right side to a downstream node's left side. Each step is
//! a link to its details on the page (`#step-NAME`) and carries its status as a class
//! (`st-ran`, `st-reused`, …), which the page's script updates as the run goes.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::html::esc;

/// A pipeline's graph: its data references and steps.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Graph {
    /// Data reference names, in the order steps first read them.
    pub data: Vec<String>,
    /// Steps, dependencies first.
    pub steps: Vec<StepNode>,
}

/// A step of a [`Graph`].
#[derive(Debug, PartialEq)]
pub(crate) struct StepNode {
    /// Its name.
    pub name: String,
    /// Indices (into `Graph::steps`) of its upstream steps.
    pub upstream: Vec<usize>,
    /// Indices (into `Graph::data`) of the data references it reads.
    pub data: Vec<usize>,
    /// Its outputs' names.
    pub outputs: Vec<String>,
}

/// The graph of the pipeline `text` (as far as it resolves: an input that does not is left
/// out).
pub(crate) fn of_pipeline(text: &str) -> Graph {
    let db = hir::RootDatabase::default();
    let file = hir::SourceFile::new(&db, "pipeline.toml".into(), text.to_owned(), vec![]);
    let g = hir::step_graph(&db, file);
    let items = driver::steps_by_name(&db, file);
    let mut graph = Graph::default();
    for (i, name) in g.order.iter().enumerate() {
        let Some(&item) = items.get(name.as_str()) else { continue };
        let mut data = Vec::new();
        for (_, target) in &hir::resolve_step(&db, file, item).inputs {
            if let hir::Target::Data(d) = target {
                let at = match graph.data.iter().position(|x| x == d) {
                    Some(at) => at,
                    None => {
                        graph.data.push(d.clone());
                        graph.data.len() - 1
                    }
                };
                data.push(at);
            }
        }
        let outputs = hir::lower_item(&db, item)
            .step()
            .map(|s| s.outputs.iter().map(|o| o.value.clone()).collect())
            .unwrap_or_default();
        let upstream = g.deps.get(i).cloned().unwrap_or_default();
        graph.steps.push(StepNode { name: name.clone(), upstream, data, outputs });
    }
    graph
}

const W: u32 = 190;
const H: u32 = 46;
const GAP_X: u32 = 60;
const GAP_Y: u32 = 18;
const PAD: u32 = 10;

/// The column of each step (data references are column 0).
fn columns(g: &Graph) -> Vec<u32> {
    let first = u32::from(!g.data.is_empty());
    let mut col = vec![first; g.steps.len()];
    for (i, s) in g.steps.iter().enumerate() {
        // Steps come dependencies first; an index out of order (a cycle) is ignored.
        for &u in &s.upstream {
            if u < i {
                col[i] = col[i].max(col[u] + 1);
            }
        }
    }
    col
}

/// The SVG of `g`, each step coloured by `status` (a step it does not name is `pending`).
pub(crate) fn svg(g: &Graph, status: &HashMap<String, String>) -> String {
    let cols = columns(g);
    let mut rows: HashMap<u32, u32> = HashMap::new();
    let mut place = |col: u32| {
        let row = rows.entry(col).or_insert(0);
        let at = (PAD + col * (W + GAP_X), PAD + *row * (H + GAP_Y));
        *row += 1;
        at
    };
    let data_at: Vec<(u32, u32)> = g.data.iter().map(|_| place(0)).collect();
    let step_at: Vec<(u32, u32)> = cols.iter().map(|&c| place(c)).collect();
    let width = PAD * 2 + (cols.iter().copied().max().unwrap_or(0) + 1) * (W + GAP_X);
    let height = PAD * 2 + rows.values().copied().max().unwrap_or(1) * (H + GAP_Y);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"graph\" role=\"img\" \
         aria-label=\"step graph\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">\n"
    );
    let edge = |out: &mut String, from: (u32, u32), to: (u32, u32)| {
        let (x1, y1, x2, y2) = (from.0 + W, from.1 + H / 2, to.0, to.1 + H / 2);
        let mid = (x1 + x2) / 2;
        let _ = writeln!(
            out,
            "<path class=\"edge\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>"
        );
    };
    for (i, s) in g.steps.iter().enumerate() {
        for &u in &s.upstream {
            if let Some(&from) = step_at.get(u) {
                edge(&mut out, from, step_at[i]);
            }
        }
        for &d in &s.data {
            edge(&mut out, data_at[d], step_at[i]);
        }
    }
    for (d, &(x, y)) in g.data.iter().zip(&data_at) {
        let _ = writeln!(
            out,
            "<g class=\"data\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"14\"/>\
             <text x=\"{}\" y=\"{}\">{}</text><text class=\"sub\" x=\"{}\" y=\"{}\">data</text></g>",
            x + 10,
            y + 20,
            esc(&clip(d)),
            x + 10,
            y + 36,
        );
    }
    for (s, &(x, y)) in g.steps.iter().zip(&step_at) {
        let st = status.get(&s.name).map_or("pending", String::as_str);
        let outputs = if s.outputs.is_empty() {
            String::new()
        } else {
            format!("→ {}", s.outputs.join(", "))
        };
        let _ = writeln!(
            out,
            "<a href=\"#step-{name}\"><g class=\"node st-{st}\" id=\"node-{name}\" data-step=\"{name}\">\
             <title>{name}: {st}</title><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"4\"/>\
             <text x=\"{}\" y=\"{}\">{}</text><text class=\"sub\" x=\"{}\" y=\"{}\">{}</text></g></a>",
            x + 10,
            y + 19,
            esc(&clip(&s.name)),
            x + 10,
            y + 36,
            esc(&clip(&outputs)),
            name = esc(&s.name),
            st = esc(st),
        );
    }
    out.push_str("</svg>");
    out
}

/// `text` cut to what fits a node, with an ellipsis.
fn clip(text: &str) -> String {
    const MAX: usize = 26;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(MAX - 1).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPELINE: &str = r#"
[data.raw]
path = "raw.csv"

[steps.prep]
command = ["python3", "p.py", "${inputs.raw}", "${outputs.split}"]
inputs = { raw = "data.raw" }
outputs = ["split"]

[steps.train]
command = ["python3", "t.py", "${inputs.d}", "${outputs.model}"]
inputs = { d = "steps.prep.outputs.split" }
outputs = ["model"]

[steps.report]
command = ["python3", "r.py", "${inputs.m}", "${inputs.raw}", "${outputs.out}"]
inputs = { m = "steps.train.outputs.model", raw = "data.raw" }
outputs = ["out"]
"#;

    #[test]
    fn the_graph_follows_the_pipeline() {
        let g = of_pipeline(PIPELINE);
        assert_eq!(g.data, ["raw"]);
        let names: Vec<_> = g.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["prep", "train", "report"]);
        assert_eq!(g.steps[2].upstream, [1]);
        assert_eq!(g.steps[2].data, [0]);
        assert_eq!(g.steps[0].outputs, ["split"]);
        assert_eq!(columns(&g), [1, 2, 3]);
    }

    #[test]
    fn each_step_is_a_coloured_link_and_the_edges_are_drawn() {
        let g = of_pipeline(PIPELINE);
        let status = HashMap::from([("prep".to_owned(), "reused".to_owned())]);
        let svg = svg(&g, &status);
        assert!(
            svg.contains("<a href=\"#step-prep\"><g class=\"node st-reused\" id=\"node-prep\""),
            "{svg}"
        );
        assert!(svg.contains("class=\"node st-pending\" id=\"node-train\""), "{svg}");
        // prep ← raw, train ← prep, report ← train and raw.
        assert_eq!(svg.matches("class=\"edge\"").count(), 4, "{svg}");
    }

    #[test]
    fn names_from_the_pipeline_are_escaped() {
        let g = Graph {
            data: vec!["<b>x</b>".into()],
            steps: vec![StepNode {
                name: "s".into(),
                upstream: vec![],
                data: vec![0],
                outputs: vec!["\"o".into()],
            }],
        };
        let svg = svg(&g, &HashMap::new());
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;") && svg.contains("→ &quot;o"), "{svg}");
    }
}
