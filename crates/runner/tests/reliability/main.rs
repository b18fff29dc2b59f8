//! The reliability suite: the real binary under kills, concurrent builds and a full disk,
//! with every result compared against contents computed independently here. Each test
//! prints its figures (`cargo test -p runner --test reliability -- --nocapture` shows them).
//!
//! Its sizes can be raised for a longer soak: `RELIABILITY_KILLS` (default 100 kills),
//! `RELIABILITY_ROUNDS` (default 20 rounds of 8 concurrent builds).

#![allow(missing_docs, clippy::print_stderr)]

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

mod concurrency;
mod disk_full;
mod kill_matrix;
mod pipeline;
