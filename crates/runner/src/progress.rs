//! The live view of a build on a terminal: one bar with steps done out of the total and
//! the steps running now, with step lines printed above it (indicatif). Without a terminal
//! (CI, pipes, `NO_COLOR`/`TERM=dumb`), plain lines only.

use std::collections::BTreeSet;
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

struct Live {
    bar: ProgressBar,
    running: BTreeSet<String>,
}

static LIVE: Mutex<Option<Live>> = Mutex::new(None);

fn live() -> std::sync::MutexGuard<'static, Option<Live>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints one line on stderr (above the bar when there is one), with a single write.
pub(crate) fn line(mut text: String) {
    if let Some(l) = live().as_ref() {
        l.bar.println(text);
        return;
    }
    text.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
}

/// Whether a live view makes sense: stderr is a terminal and nobody asked for plain output.
pub(crate) fn wanted() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Shows the bar for a build of `total` steps until [`stop`].
pub(crate) fn start(total: usize) {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    *live() = Some(Live { bar, running: BTreeSet::new() });
}

/// Step `name` started (true) or stopped (false) running a process.
pub(crate) fn running(name: &str, on: bool) {
    if let Some(l) = live().as_mut() {
        if on {
            l.running.insert(name.to_owned());
        } else {
            l.running.remove(name);
        }
        let names: Vec<&str> = l.running.iter().map(String::as_str).collect();
        l.bar.set_message(if names.is_empty() {
            String::new()
        } else {
            format!("running: {}", names.join(", "))
        });
    }
}

/// One more step is done (ran, reused, failed or skipped).
pub(crate) fn done() {
    if let Some(l) = live().as_ref() {
        l.bar.inc(1);
    }
}

/// Removes the bar.
pub(crate) fn stop() {
    if let Some(l) = live().take() {
        l.bar.finish_and_clear();
    }
}
