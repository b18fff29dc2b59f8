//! The step graph: edges from inputs that name another step's output.
//!
//! Returns derived data (an order, index lists, cycles), never the petgraph graph itself,
//! which has no `PartialEq` and so could not be backdated.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::graph::DiGraph;

use crate::diagnostics::{Diagnostic, cycle};
use crate::fxhash::FxHashMap;
use crate::group::group_checked;
use crate::{Db, ItemKind, SourceFile, items};

/// Steps in a topological order, and each step's dependencies as indices into it.
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct StepGraph {
    /// Step names, dependencies first; among ready steps, file order. Steps on a cycle come
    /// last, in file order.
    pub order: Vec<String>,
    /// `deps[i]`: indices (into `order`) of the steps `order[i]` reads from.
    pub deps: Vec<Vec<usize>>,
    /// Each cycle as step names in dependency order.
    pub cycles: Vec<Vec<String>>,
    /// `E0109` for each cycle (absolute spans).
    pub diagnostics: Vec<Diagnostic>,
}

impl StepGraph {
    /// Index of step `name` in [`StepGraph::order`].
    pub fn position(&self, name: &str) -> Option<usize> {
        self.order.iter().position(|n| n == name)
    }

    /// `roots` and everything they need, as a mask over `order`.
    pub fn closure(&self, roots: &[usize]) -> Vec<bool> {
        let mut keep = vec![false; self.order.len()];
        let mut stack: Vec<usize> = roots.to_vec();
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut keep[i], true) {
                stack.extend(&self.deps[i]);
            }
        }
        keep
    }
}

/// Builds the graph.
#[salsa::tracked(returns(ref))]
pub fn step_graph(db: &dyn Db, file: SourceFile) -> StepGraph {
    let items = items(db, file);
    let steps: Vec<_> = items.of_kind(ItemKind::Step).collect();
    let names: Vec<&String> = steps.iter().map(|s| s.name(db)).collect();
    let mut by_name: FxHashMap<&str, usize> =
        FxHashMap::with_capacity_and_hasher(names.len(), Default::default());
    by_name.extend(names.iter().enumerate().map(|(i, n)| (n.as_str(), i)));
    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(steps.len(), steps.len());
    let nodes: Vec<_> = (0..steps.len()).map(|i| g.add_node(i)).collect();
    // Groups list steps in file order, as `steps` does.
    let deps = items.groups.iter().flat_map(|&group| group_checked(db, group).deps.iter());
    for (i, deps) in deps.enumerate() {
        for dep in deps {
            if let Some(&j) = by_name.get(dep.as_str()) {
                g.add_edge(nodes[j], nodes[i], ());
            }
        }
    }
    // Kahn's algorithm, taking the ready step that comes first in the file. Without
    // cycles it orders every step and the components need not be computed.
    let mut on_cycle = vec![false; steps.len()];
    let mut cycles = Vec::new();
    let mut diagnostics = Vec::new();
    let mut order = kahn(&g, &nodes, &on_cycle);
    if order.len() < steps.len() {
        // Cycles: strongly connected components with more than one node, or a self-loop.
        let mut sccs = petgraph::algo::tarjan_scc(&g);
        sccs.iter_mut().for_each(|c| c.sort());
        sccs.sort();
        for scc in sccs {
            let is_cycle = scc.len() > 1 || g.contains_edge(scc[0], scc[0]);
            if !is_cycle {
                continue;
            }
            let members: Vec<usize> = scc.iter().map(|n| g[*n]).collect();
            let path = cycle_path(&g, &nodes, &members);
            for &m in &members {
                on_cycle[m] = true;
            }
            let spans: Vec<_> = path.iter().map(|&i| steps[i].name_span(db)).collect();
            let path_names: Vec<String> = path.iter().map(|&i| names[i].clone()).collect();
            diagnostics.push(cycle::new(&path_names, &spans));
            cycles.push(path_names);
        }
        order = kahn(&g, &nodes, &on_cycle);
    }
    let mut ordered = vec![false; steps.len()];
    order.iter().for_each(|&i| ordered[i] = true);
    order.extend((0..steps.len()).filter(|&i| !ordered[i]));
    let mut position = vec![0; steps.len()];
    for (p, &i) in order.iter().enumerate() {
        position[i] = p;
    }
    let pos = |i: usize| position[i];
    let deps = order
        .iter()
        .map(|&i| {
            let mut d: Vec<usize> =
                g.neighbors_directed(nodes[i], petgraph::Incoming).map(|n| pos(g[n])).collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    StepGraph {
        order: order.iter().map(|&i| names[i].clone()).collect(),
        deps,
        cycles,
        diagnostics,
    }
}

/// Kahn's algorithm over the steps not `on_cycle`, taking the ready step that comes first
/// in the file; steps on or downstream of a cycle are left out.
fn kahn(
    g: &DiGraph<usize, ()>,
    nodes: &[petgraph::graph::NodeIndex],
    on_cycle: &[bool],
) -> Vec<usize> {
    let mut indegree: Vec<usize> =
        nodes.iter().map(|n| g.neighbors_directed(*n, petgraph::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..nodes.len()).filter(|&i| indegree[i] == 0 && !on_cycle[i]).map(Reverse).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for n in g.neighbors_directed(nodes[i], petgraph::Outgoing) {
            let j = g[n];
            indegree[j] -= 1;
            if indegree[j] == 0 && !on_cycle[j] {
                ready.push(Reverse(j));
            }
        }
    }
    order
}

/// A cycle through `members` in dependency order, starting at the first in file order:
/// follow edges that stay in the component until we return.
fn cycle_path(
    g: &DiGraph<usize, ()>,
    nodes: &[petgraph::graph::NodeIndex],
    members: &[usize],
) -> Vec<usize> {
    let start = *members.iter().min().expect("non-empty component");
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let mut next: Vec<usize> = g
            .neighbors_directed(nodes[cur], petgraph::Outgoing)
            .map(|n| g[n])
            .filter(|j| members.contains(j))
            .collect();
        next.sort_unstable();
        let Some(&n) = next.iter().find(|j| !path.contains(j)).or(next.first()) else { break };
        if n == start || path.contains(&n) {
            break;
        }
        path.push(n);
        cur = n;
    }
    path
}
