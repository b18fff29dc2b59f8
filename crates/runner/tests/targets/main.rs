//! Compute targets elsewhere, end to end against real services that this suite starts
//! once each and stops when its test ends (by PID: `tests/services/*.sh`): a one-node
//! Slurm cluster (munged + slurmctld + slurmd) and an OpenSSH server on loopback. `.ci/run`
//! installs them from Debian's packages; they need root. Elsewhere, set
//! `RUNNER_TEST_SERVICES=skip` to skip them (a missing service otherwise fails the test).
//!
//! Both run the example pipeline (`examples/digits`, every step on the target, its
//! scikit-learn environment made there), then check reuse across targets, failures and
//! cancellation.

#![allow(missing_docs, clippy::print_stderr)]

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

mod services;
mod slurm;
mod ssh;
