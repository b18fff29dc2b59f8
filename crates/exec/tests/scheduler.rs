//! `schedule`: dependency order, failure propagation, the parallelism cap and cancellation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec::{CancelToken, NodeState, Outcome, ProcessSpec, run_process, schedule};

use NodeState::{Cancelled, Failed, Skipped, Succeeded};

type Log = Arc<Mutex<Vec<String>>>;

fn pos(log: &[String], event: &str) -> usize {
    log.iter().position(|e| e == event).unwrap_or_else(|| panic!("{event} missing in {log:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_order_is_respected() {
    let deps = vec![vec![], vec![0], vec![0], vec![1, 2]];
    let log: Log = Arc::default();
    let result = schedule(&deps, 4, CancelToken::new(), |i| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(format!("start {i}"));
            tokio::time::sleep(Duration::from_millis(20 * (i as u64 % 3 + 1))).await;
            log.lock().unwrap().push(format!("end {i}"));
            Succeeded
        }
    })
    .await;
    assert_eq!(result, vec![Succeeded; 4]);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 8);
    assert_eq!(log[0], "start 0");
    assert!(pos(&log, "end 0") < pos(&log, "start 1"));
    assert!(pos(&log, "end 0") < pos(&log, "start 2"));
    assert!(pos(&log, "end 1") < pos(&log, "start 3"));
    assert!(pos(&log, "end 2") < pos(&log, "start 3"));
    // 1 and 2 are independent and run side by side.
    assert!(pos(&log, "start 2") < pos(&log, "end 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_skips_downstream_only() {
    // 0 fails → 1 → 2 are skipped, 5 depends on 1 and 3; 3 → 4 is independent and succeeds.
    let deps = vec![vec![], vec![0], vec![1], vec![], vec![3], vec![1, 3]];
    let started: Log = Arc::default();
    let result = schedule(&deps, 2, CancelToken::new(), |i| {
        let started = started.clone();
        async move {
            started.lock().unwrap().push(i.to_string());
            tokio::time::sleep(Duration::from_millis(10)).await;
            if i == 0 { Failed } else { Succeeded }
        }
    })
    .await;
    assert_eq!(result, vec![Failed, Skipped, Skipped, Succeeded, Succeeded, Skipped]);
    let mut started = started.lock().unwrap().clone();
    started.sort();
    assert_eq!(started, ["0", "3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_is_capped() {
    let deps = vec![vec![]; 10];
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let order: Log = Arc::default();
    let result = schedule(&deps, 2, CancelToken::new(), |i| {
        let (in_flight, peak, order) = (in_flight.clone(), peak.clone(), order.clone());
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            order.lock().unwrap().push(i.to_string());
            tokio::time::sleep(Duration::from_millis(30)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Succeeded
        }
    })
    .await;
    assert_eq!(result, vec![Succeeded; 10]);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    // The first two started are the lowest indices.
    let order = order.lock().unwrap().clone();
    let mut first_two = order[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["0", "1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_parallelism_means_one() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let result = schedule(&[vec![], vec![], vec![]], 0, CancelToken::new(), |_| {
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        async move {
            peak.fetch_max(in_flight.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Succeeded
        }
    })
    .await;
    assert_eq!(result, vec![Succeeded; 3]);
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_new_starts_and_awaits_in_flight() {
    // 0 and 1 run and watch the token; 1 finishes its work (Succeeded) after the cancel.
    // 2 depends on 1; 3 and 4 are independent but never get a slot.
    let deps = vec![vec![], vec![], vec![1], vec![], vec![]];
    let cancel = CancelToken::new();
    let started: Log = Arc::default();
    let finished = Arc::new(AtomicUsize::new(0));
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        })
    };
    let result = schedule(&deps, 2, cancel.clone(), |i| {
        let (cancel, started, finished) = (cancel.clone(), started.clone(), finished.clone());
        async move {
            started.lock().unwrap().push(i.to_string());
            cancel.cancelled().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            finished.fetch_add(1, Ordering::SeqCst);
            if i == 1 { Succeeded } else { Cancelled }
        }
    })
    .await;
    canceller.await.unwrap();
    assert_eq!(result, vec![Cancelled, Succeeded, Cancelled, Cancelled, Cancelled]);
    // 0 and 1 run at once on two worker threads: which logs first is a race.
    let mut started = started.lock().unwrap().clone();
    started.sort();
    assert_eq!(started, ["0", "1"]);
    assert_eq!(finished.load(Ordering::SeqCst), 2, "in-flight nodes were awaited");
}

#[tokio::test]
async fn cancelled_before_start_runs_nothing() {
    let cancel = CancelToken::new();
    cancel.cancel();
    let calls = AtomicUsize::new(0);
    let result = schedule(&[vec![], vec![0]], 4, cancel, |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Succeeded }
    })
    .await;
    assert_eq!(result, vec![Cancelled, Cancelled]);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn impossible_nodes_are_skipped_not_hung() {
    // 0 ↔ 1 is a cycle, 3 names a node that does not exist, 2 is fine.
    let deps = vec![vec![1], vec![0], vec![], vec![7], vec![3]];
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        schedule(&deps, 2, CancelToken::new(), |_| async { Succeeded }),
    )
    .await
    .unwrap();
    assert_eq!(result, vec![Skipped, Skipped, Succeeded, Skipped, Skipped]);
    assert!(schedule(&[], 2, CancelToken::new(), |_| async { Succeeded }).await.is_empty());
}

#[tokio::test]
async fn panicking_node_fails() {
    let result = schedule(&[vec![], vec![0], vec![]], 2, CancelToken::new(), |i| async move {
        assert_ne!(i, 0, "node 0 panics on purpose");
        Succeeded
    })
    .await;
    assert_eq!(result, vec![Failed, Skipped, Succeeded]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_real_processes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    // 0 writes a file, 1 reads it (so it must run after 0), 2 fails, 3 depends on 2.
    let scripts = ["echo data > a", "cat a > b", "exit 1", "touch never"];
    let deps = vec![vec![], vec![0], vec![], vec![2]];
    let cancel = CancelToken::new();
    let result = schedule(&deps, 2, cancel.clone(), |i| {
        let spec = ProcessSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), scripts[i].into()],
            cwd: root.clone(),
            env: Vec::new(),
            stdout_path: root.join(format!("logs/{i}.out")),
            stderr_path: root.join(format!("logs/{i}.err")),
            timeout: Some(Duration::from_secs(20)),
            grace: Duration::from_secs(1),
        };
        let cancel = cancel.clone();
        async move {
            match run_process(spec, cancel).await.0 {
                o if o.success() => Succeeded,
                Outcome::Cancelled => Cancelled,
                _ => Failed,
            }
        }
    })
    .await;
    assert_eq!(result, vec![Succeeded, Succeeded, Failed, Skipped]);
    assert_eq!(std::fs::read_to_string(root.join("b")).unwrap(), "data\n");
    assert!(!root.join("never").exists());
}

/// A fan-in of 10,000 nodes into one, and a chain of 2,000 with a failure in the middle:
/// every root runs, the fan-in runs last, and the failure skips exactly its downstream.
#[tokio::test]
async fn large_graphs_schedule_every_node_once() {
    let n = 10_000;
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    deps.push((0..n).collect());
    let order = Arc::new(Mutex::new(Vec::new()));
    let seen = order.clone();
    let result = schedule(&deps, 4, CancelToken::new(), move |i| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(i);
            Succeeded
        }
    })
    .await;
    assert!(result.iter().all(|s| *s == Succeeded));
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), n + 1);
    assert_eq!(order.last(), Some(&n), "the fan-in runs last");

    let chain: Vec<Vec<usize>> =
        (0..2000).map(|i| if i == 0 { vec![] } else { vec![i - 1] }).collect();
    let result = schedule(&chain, 2, CancelToken::new(), |i| async move {
        if i == 999 { Failed } else { Succeeded }
    })
    .await;
    assert!(result[..999].iter().all(|s| *s == Succeeded));
    assert_eq!(result[999], Failed);
    assert!(result[1000..].iter().all(|s| *s == Skipped));
}
