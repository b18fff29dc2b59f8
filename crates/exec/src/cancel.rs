//! A cloneable, level-triggered cancellation flag.
//!
//! All clones share one `tokio::sync::watch` channel holding a `bool`. [`CancelToken::cancel`] sets it
//! to `true` (it never goes back to `false`); waiters subscribe to the channel and wake when the value
//! becomes `true`. Because the flag is a level, not an event, a task that starts waiting *after* the
//! cancel still returns immediately.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable cancellation flag: once [`cancel`](Self::cancel) is called on any clone, every clone
/// reports cancelled, for good.
///
/// Cheap to clone (one `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
}

impl CancelToken {
    /// A new token, not cancelled.
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// Sets the flag and wakes every task waiting in [`cancelled`](Self::cancelled). Idempotent.
    pub fn cancel(&self) {
        self.tx.send_if_modified(|v| !std::mem::replace(v, true));
    }

    /// Whether [`cancel`](Self::cancel) has been called on this token or any clone of it.
    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the token is cancelled (immediately if it already is). Cancel-safe: dropping the
    /// future loses nothing.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait; an error is
        // therefore impossible, and would mean nothing can cancel us any more.
        if rx.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn cancel_wakes_waiters_and_late_waiters() {
        let token = CancelToken::new();
        assert!(!token.is_cancelled());
        let waiter = tokio::spawn({
            let token = token.clone();
            async move { token.cancelled().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        token.clone().cancel();
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert!(token.is_cancelled());
        token.cancel();
        tokio::time::timeout(Duration::from_secs(5), token.cancelled()).await.unwrap();
    }
}
