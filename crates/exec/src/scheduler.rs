//! Running the nodes of a DAG with a parallelism cap.
//!
//! # Mechanism
//!
//! One loop owns all state, as Kahn's topological sort: per node the number of its
//! dependencies that have not yet succeeded, per node the nodes that depend on it, and a heap
//! of ready nodes (all dependencies `Succeeded`), lowest index first. Each turn it
//!
//! 1. if the [`CancelToken`] fired, marks every waiting node **Cancelled**;
//! 2. otherwise starts ready nodes in index order until `max_parallel` are in flight: `run(i)`
//!    is called and its future spawned on a [`tokio::task::JoinSet`], so nodes really run in
//!    parallel on the runtime's threads;
//! 3. waits for the next node to finish, or for the token to fire. A node that succeeded
//!    counts down its dependents (a dependent reaching zero is ready); a node that ended
//!    otherwise marks **Skipped** every waiting node downstream of it, the whole subgraph at
//!    once.
//!
//! So a finished node costs work in proportion to its dependents, not to the graph: 10,000
//! nodes schedule in linear time (a scan of every node per finished node, as this module did
//! before, was quadratic: about a second of scheduling at 10,000 steps).
//!
//! When nothing is in flight and nothing can start, every node still waiting can never become ready
//! (a cycle or an out-of-range dependency index): it is reported **Skipped** instead of hanging.
//!
//! Node futures are spawned, hence `Send + 'static`. If the future returned by [`schedule`] is dropped,
//! the `JoinSet` aborts the in-flight node tasks (dropping their futures, which for
//! [`run_process`](crate::run_process) kills the process groups). A node task that panics is reported
//! `Failed`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;

use tokio::task::JoinSet;

use crate::CancelToken;

/// The result of one node of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// The node ran and succeeded.
    Succeeded,
    /// The node ran and failed.
    Failed,
    /// Never started: a dependency failed or was skipped or cancelled (or the node could never become
    /// ready).
    Skipped,
    /// Cancelled before or while running.
    Cancelled,
}

/// Runs the nodes of a DAG and returns the state of every node (`result[i]` for node `i`).
///
/// Node `i` may start when all of `deps[i]` (indices into `deps`) have `Succeeded`; a node whose
/// dependency ended `Failed`, `Skipped` or `Cancelled` is `Skipped` (never started), and independent
/// branches keep going. At most `max_parallel` node futures are in flight at once (0 is treated as 1).
/// `run(i)` returns `Succeeded` or `Failed` (or `Cancelled`); its future is spawned with
/// `tokio::spawn` semantics, so this must be called inside a tokio runtime. Once `cancel` fires, no new
/// node starts (the remaining ones are `Cancelled`) and in-flight futures are awaited; they watch the
/// token themselves. Among ready nodes, the lowest index starts first (callers pass a topological
/// order). `deps` should be acyclic; a node that can never become ready (cycle, or a dependency index
/// out of range) is reported `Skipped` rather than hanging. A node whose task panics is `Failed`.
pub async fn schedule<F, Fut>(
    deps: &[Vec<usize>],
    max_parallel: usize,
    cancel: CancelToken,
    mut run: F,
) -> Vec<NodeState>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = NodeState> + Send + 'static,
{
    let n = deps.len();
    let max_parallel = max_parallel.max(1);
    let mut state = vec![Slot::Waiting; n];
    // Dependencies not yet succeeded (an out-of-range one never does), and the reverse edges.
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            if let Some(list) = dependents.get_mut(d) {
                list.push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| remaining[i] == 0).map(Reverse).collect();
    let mut tasks: JoinSet<NodeState> = JoinSet::new();
    let mut task_node: HashMap<tokio::task::Id, usize> = HashMap::new();

    loop {
        if cancel.is_cancelled() {
            ready.clear();
            for slot in state.iter_mut().filter(|s| **s == Slot::Waiting) {
                *slot = Slot::Done(NodeState::Cancelled);
            }
        } else {
            while tasks.len() < max_parallel {
                let Some(Reverse(i)) = ready.pop() else { break };
                if state[i] != Slot::Waiting {
                    continue; // skipped or cancelled meanwhile
                }
                state[i] = Slot::Running;
                let handle = tasks.spawn(run(i));
                task_node.insert(handle.id(), i);
            }
        }

        if tasks.is_empty() {
            // Nothing runs and nothing could start: the rest can never become ready.
            for slot in state.iter_mut().filter(|s| **s == Slot::Waiting) {
                *slot = Slot::Done(NodeState::Skipped);
            }
            break;
        }

        let cancelled = cancel.is_cancelled();
        tokio::select! {
            biased;
            joined = tasks.join_next_with_id() => {
                let (id, result) = match joined {
                    Some(Ok((id, result))) => (id, result),
                    Some(Err(err)) => (err.id(), NodeState::Failed),
                    None => unreachable!("the join set is not empty"),
                };
                if let Some(i) = task_node.remove(&id) {
                    state[i] = Slot::Done(result);
                    if result == NodeState::Succeeded {
                        for &j in &dependents[i] {
                            remaining[j] -= 1;
                            if remaining[j] == 0 && state[j] == Slot::Waiting {
                                ready.push(Reverse(j));
                            }
                        }
                    } else {
                        skip_downstream(i, &dependents, &mut state);
                    }
                }
            }
            () = cancel.cancelled(), if !cancelled => {}
        }
    }

    state
        .into_iter()
        .map(|slot| match slot {
            Slot::Done(result) => result,
            // Unreachable: the loop ends only when no task runs and nothing waits.
            Slot::Waiting | Slot::Running => NodeState::Skipped,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    Running,
    Done(NodeState),
}

/// Marks Skipped every waiting node downstream of `failed` (which ended other than
/// `Succeeded`), through waiting nodes only: each node is visited once.
fn skip_downstream(failed: usize, dependents: &[Vec<usize>], state: &mut [Slot]) {
    let mut stack = vec![failed];
    while let Some(d) = stack.pop() {
        for &j in &dependents[d] {
            if state[j] == Slot::Waiting {
                state[j] = Slot::Done(NodeState::Skipped);
                stack.push(j);
            }
        }
    }
}
