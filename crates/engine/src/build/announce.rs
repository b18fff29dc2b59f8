//! The order in which a build's step events reach the sink: a step's `Running` is held
//! until every step it depends on has reported `Finished`, so that "running compare (input
//! logreg changed …)" never comes before "ran evaluate_logreg". A step's process starts
//! the moment it can (an upstream's `Finished` waits for checks off the critical path:
//! the drift check, its metrics); only the line waits.

use std::sync::Mutex;

use crate::events::Event;

/// Which steps have reported `Finished`, and the `Running` events held for steps whose
/// upstream have not yet.
pub(super) struct Announcer {
    state: Mutex<State>,
}

struct State {
    finished: Vec<bool>,
    held: Vec<(usize, Event)>,
}

impl Announcer {
    /// For `n` steps.
    pub fn new(n: usize) -> Announcer {
        Announcer { state: Mutex::new(State { finished: vec![false; n], held: Vec::new() }) }
    }

    /// `Running` of step `i`, whose upstream steps are `deps`: emitted now through `emit`
    /// if they have all finished, else held.
    pub fn running(&self, i: usize, deps: &[usize], event: Event, emit: impl Fn(Event)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if deps.iter().all(|&d| s.finished[d]) {
            emit(event);
        } else {
            s.held.push((i, event));
        }
    }

    /// Step `i` reported `Finished` (already emitted): emits the held `Running` events
    /// whose upstream have now all finished, in the order they were held.
    pub fn finished(&self, i: usize, all_deps: &[Vec<usize>], emit: impl Fn(Event)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.finished[i] = true;
        if s.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut s.held);
        for (j, event) in held {
            if all_deps[j].iter().all(|&d| s.finished[d]) {
                emit(event);
            } else {
                s.held.push((j, event));
            }
        }
    }

    /// Emits whatever is still held (the build is over: an upstream that never finished
    /// cannot hold a line back any more).
    pub fn flush(&self, emit: impl Fn(Event)) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, event) in std::mem::take(&mut s.held) {
            emit(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn running(step: &str) -> Event {
        Event::Running { step: step.to_owned(), reason: String::new() }
    }

    #[test]
    fn a_step_is_announced_after_its_upstream_finished() {
        // 0 → 2 ← 1
        let deps = vec![vec![], vec![], vec![0, 1]];
        let a = Announcer::new(3);
        let out = RefCell::new(Vec::new());
        let emit = |e: Event| {
            if let Event::Running { step, .. } = e {
                out.borrow_mut().push(step);
            }
        };
        a.running(0, &deps[0], running("a"), emit);
        a.running(2, &deps[2], running("c"), emit);
        assert_eq!(*out.borrow(), ["a"]);
        a.finished(0, &deps, emit);
        assert_eq!(*out.borrow(), ["a"]);
        a.finished(1, &deps, emit);
        assert_eq!(*out.borrow(), ["a", "c"]);
        a.running(1, &deps[1], running("b"), emit);
        a.flush(emit);
        assert_eq!(*out.borrow(), ["a", "c", "b"]);
    }
}
