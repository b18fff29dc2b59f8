//! A small parallel map for hashing many files at once.
//!
//! Workers (at most 4, at most the number of CPUs) run in a `std::thread::scope`, take the next
//! item index from a shared atomic counter and each own one reusable 1 MiB buffer. Results come
//! back in input order. After the first error the remaining items are skipped and the error of the
//! earliest failing item (in input order, among those processed) is returned.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::digest::BUF_SIZE;

const MAX_WORKERS: usize = 4;

thread_local! {
    /// One reusable buffer per thread: a no-op build verifies one small blob per step, and
    /// zeroing a fresh 1 MiB buffer for each cost more than the check itself.
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffer (a fresh one if it is already in use).
pub(crate) fn with_buffer<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < BUF_SIZE {
                buf.resize(BUF_SIZE, 0);
            }
            f(&mut buf)
        }
        Err(_) => f(&mut vec![0u8; BUF_SIZE]),
    })
}

/// Applies `f(item, buffer)` to every item, in parallel, returning the results in input order.
pub(crate) fn try_map<T, R, E, F>(items: &[T], f: F) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T, &mut [u8]) -> Result<R, E> + Sync,
{
    if items.len() <= 1 {
        return items.iter().map(|item| with_buffer(|buf| f(item, buf))).collect();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cpus.min(MAX_WORKERS).min(items.len());
    if workers <= 1 {
        return with_buffer(|buf| items.iter().map(|item| f(item, buf)).collect());
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R, E>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = vec![0u8; BUF_SIZE];
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item, &mut buf);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::with_capacity(items.len());
    let mut first_err = None;
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_errors() {
        let items: Vec<u32> = (0..1000).collect();
        let out: Vec<u32> = try_map(&items, |&i, _| Ok::<_, ()>(i * 2)).unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = try_map(&items, |&i, _| if i == 500 { Err(i) } else { Ok(i) }).unwrap_err();
        assert_eq!(err, 500);
    }
}
