//! Memo file round trip, damage, and the checks against real files and a real cache.

use super::*;

fn sample() -> BuildMemo {
    let stamp = FileStamp { dev: 1, ino: 2, size: 3, mtime_ns: 4, ctime_ns: 5 };
    BuildMemo {
        invocation: Digest([7; 32]),
        written_ns: 42,
        run: 6,
        text: Digest([8; 32]),
        text_stamp: Some(stamp),
        pipeline: "p".into(),
        experiment: "e".into(),
        pipeline_path: "/x/pipeline.toml".into(),
        params: vec![("lr".into(), "0.1".into())],
        paths: vec![
            MemoPath {
                path: "a.py".into(),
                digest: true,
                state: FsState::File(Digest([1; 32])),
                stamp: Some(stamp),
            },
            MemoPath { path: "src".into(), digest: false, state: FsState::Dir(None), stamp: None },
            MemoPath {
                path: "d".into(),
                digest: true,
                state: FsState::Dir(Some(Digest([2; 32]))),
                stamp: None,
            },
            MemoPath { path: "m".into(), digest: true, state: FsState::Missing, stamp: None },
        ],
        folders: vec![
            MemoFolder { path: "outputs".into(), stamp, kind: StampKind::Views },
            MemoFolder { path: "cache/ac.sqlite".into(), stamp, kind: StampKind::Written },
            MemoFolder { path: "cache/manifests".into(), stamp, kind: StampKind::Folder },
        ],
        steps: vec![MemoStep {
            name: "train".into(),
            key: Digest([9; 32]),
            run_id: 3,
            base_run_id: 2,
            outputs: vec![("model".into(), Digest([4; 32]))],
            blobs: vec![("cache/cas/x".into(), stamp)],
            folders: vec![1],
        }],
    }
}

#[test]
fn round_trip_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let m = sample();
    m.save(dir.path()).unwrap();
    assert_eq!(BuildMemo::load(dir.path()), Some(m.clone()));
    // A torn or edited file is not trusted.
    let path = dir.path().join(MEMO_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(BuildMemo::load(dir.path()), None);
    let mut flipped = bytes.clone();
    flipped[20] ^= 1;
    std::fs::write(&path, flipped).unwrap();
    assert_eq!(BuildMemo::load(dir.path()), None);
    BuildMemo::forget(dir.path());
    assert!(!path.exists());
    // Outputs out of order or twice (sealed, so only a writer's bug could make them) are not
    // trusted either: the checks compare them with a map's order.
    for names in [["model", "metrics"], ["model", "model"]] {
        let mut m = sample();
        m.steps[0].outputs = names.map(|n| (n.to_owned(), Digest([4; 32]))).to_vec();
        m.save(dir.path()).unwrap();
        assert_eq!(BuildMemo::load(dir.path()), None, "{names:?}");
    }
    let mut m = sample();
    m.steps[0].outputs.insert(0, ("metrics".into(), Digest([3; 32])));
    m.save(dir.path()).unwrap();
    assert_eq!(BuildMemo::load(dir.path()), Some(m));
}

#[test]
fn same_outputs_compares_a_map_with_a_sorted_list() {
    let map =
        BTreeMap::from([("a".to_owned(), Digest([1; 32])), ("b".to_owned(), Digest([2; 32]))]);
    let list = |v: &[(&str, u8)]| -> Vec<(String, Digest)> {
        v.iter().map(|(n, d)| ((*n).to_owned(), Digest([*d; 32]))).collect()
    };
    assert!(same_outputs(&map, &list(&[("a", 1), ("b", 2)])));
    assert!(!same_outputs(&map, &list(&[("a", 1)])));
    assert!(!same_outputs(&map, &list(&[("a", 1), ("b", 3)])));
    assert!(!same_outputs(&map, &list(&[("a", 1), ("c", 2)])));
    assert!(!same_outputs(&map, &list(&[("a", 1), ("b", 2), ("c", 3)])));
}

#[test]
fn invocation_covers_every_part() {
    let f = Path::new("/p/pipeline.toml");
    let base = invocation(f, &Digest([1; 32]), &[], &[], None);
    assert_eq!(base, invocation(f, &Digest([1; 32]), &[], &[], None));
    let others = [
        invocation(Path::new("/q/pipeline.toml"), &Digest([1; 32]), &[], &[], None),
        invocation(f, &Digest([2; 32]), &[], &[], None),
        invocation(f, &Digest([1; 32]), &[("a".into(), "1".into())], &[], None),
        invocation(f, &Digest([1; 32]), &[], &["s".into()], None),
        invocation(f, &Digest([1; 32]), &[], &[], Some("e")),
    ];
    for o in others {
        assert_ne!(o, base);
    }
}

/// A real cache with one verified result, and a memo of it.
fn cached_step(root: &Path) -> (Cache, BuildMemo) {
    let state = root.join(".runner");
    let cache = Cache::open(&state.join("cache")).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.pkl"), "weights").unwrap();
    let manifest = cache.ingest_tree(&out).unwrap();
    let mdigest = cache.put_manifest(&manifest).unwrap();
    let key = cache::Digest([5; 32]);
    let result = cache::ActionResult {
        step: "train".into(),
        outputs: BTreeMap::from([("model".to_owned(), mdigest)]),
        run_id: 1,
        created_ms: 0,
        manifests: BTreeMap::new(),
        sources: Vec::new(),
        reads: Vec::new(),
        origin: None,
    };
    cache.put_action(&key, &result).unwrap();
    std::fs::create_dir_all(state.join("outputs/train")).unwrap();
    std::fs::write(root.join("train.py"), "print(1)").unwrap();
    let outputs = BTreeMap::from([("model".to_owned(), mdigest)]);
    let written_ns = cache::now_ns();
    let results =
        [StepResult { name: "train", key, run_id: 1, outputs: &outputs, manifests: None }];
    let (folders, steps) = BuildMemo::stamp(&cache, &state, &results).unwrap();
    // A result the action cache does not hold is not memoised.
    let wrong = [StepResult { run_id: 2, ..results[0].clone() }];
    assert!(BuildMemo::stamp(&cache, &state, &wrong).is_none());
    // With the manifests in hand (a build's own results), nothing is looked up: the same
    // blobs are stamped, and no manifest folder (the manifest was not read from it).
    let known = [StepResult { manifests: Some(vec![&manifest]), ..results[0].clone() }];
    let (known_folders, known_steps) = BuildMemo::stamp(&cache, &state, &known).unwrap();
    assert_eq!(known_steps[0].blobs, steps[0].blobs);
    assert_eq!(known_folders.len(), folders.len() - 1);
    assert!(known_folders.iter().all(|f| f.kind != StampKind::Folder), "{known_folders:?}");
    let memo = BuildMemo {
        invocation: Digest([0; 32]),
        written_ns,
        run: 1,
        text: Digest([0; 32]),
        text_stamp: None,
        pipeline: "p".into(),
        experiment: "p".into(),
        pipeline_path: String::new(),
        params: vec![],
        paths: vec![MemoPath {
            path: "train.py".into(),
            digest: true,
            state: FsState::File(Digest(cache::Digest::of_bytes(b"print(1)").0)),
            stamp: None,
        }],
        folders,
        steps,
    };
    (cache, memo)
}

/// A stat cache with nothing saved, loaded on first use.
fn no_stats(root: &Path) -> LazyStats {
    LazyStats::new(root.join(".runner/statcache"), root.to_path_buf())
}

/// Sets every stamp back as if the memo had been written long after the files.
fn settle(m: &mut BuildMemo) {
    std::thread::sleep(std::time::Duration::from_millis(120));
    m.written_ns = cache::now_ns();
}

#[test]
fn fresh_stamps_are_verified_then_restamped_then_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    let folders: Vec<&str> = memo.folders.iter().map(|f| f.path.as_str()).collect();
    let want = ["outputs", "cache/ac.sqlite", "cache/ac.sqlite-wal", "cache/manifests"];
    assert_eq!(folders, want, "the views, the action cache's files, the manifests");
    assert_eq!(memo.steps[0].blobs.len(), 1);
    let mut stats = no_stats(root);
    // Just written: racy, so the result is looked up and verified, and the stamps renewed.
    let v = memo.check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Valid { restamped: true });
    settle(&mut memo);
    // The input, settled now, gets its stamp (checked through the stat cache until then).
    assert_eq!(memo.paths[0].stamp, None);
    let v = memo.check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Valid { restamped: true });
    assert!(memo.paths[0].stamp.is_some());
    let v = memo.check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Valid { restamped: false });
}

#[test]
fn changes_make_the_memo_stale() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    settle(&mut memo);
    let mut stats = no_stats(root);
    let stale = |m: &BuildMemo, stats: &mut LazyStats| {
        matches!(m.clone().check(root, &state, stats, &cache).unwrap(), Verdict::Stale(_))
    };
    assert!(!stale(&memo, &mut stats));

    // An input's bytes: the memo says which path changed, and to what.
    std::fs::write(root.join("train.py"), "print(2)").unwrap();
    let two = FsState::File(Digest(cache::Digest::of_bytes(b"print(2)").0));
    assert_eq!(
        memo.clone().check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Changed { paths: vec![(0, two)], restamped: false }
    );
    std::fs::write(root.join("train.py"), "print(1)").unwrap();
    assert!(!stale(&memo, &mut stats));
    assert_eq!(
        memo.clone().check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Valid { restamped: false }
    );
    // Its kind: the checker may say something else, so the memo is stale.
    std::fs::remove_file(root.join("train.py")).unwrap();
    assert!(stale(&memo, &mut stats));
    std::fs::create_dir(root.join("train.py")).unwrap();
    assert!(stale(&memo, &mut stats));
    std::fs::remove_dir(root.join("train.py")).unwrap();
    std::fs::write(root.join("train.py"), "print(1)").unwrap();
    assert!(!stale(&memo, &mut stats));

    // The output views: a step's view removed.
    std::fs::remove_dir(state.join("outputs/train")).unwrap();
    assert!(stale(&memo, &mut stats));
    std::fs::create_dir(state.join("outputs/train")).unwrap();
    let mut renewed = memo.clone();
    assert_eq!(
        renewed.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Stale("outputs changed".into())
    );
    renewed.folders[0].stamp = FileStamp::read(&state.join("outputs")).unwrap().unwrap();
    settle(&mut renewed);
    assert!(!stale(&renewed, &mut stats));

    // A blob rewritten in place, same size: its ctime moves, it is rehashed, and it fails.
    let blob = state.join(&renewed.steps[0].blobs[0].0);
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, "WEIGHTS").unwrap();
    assert!(stale(&renewed, &mut stats));
    std::fs::remove_file(&blob).unwrap();
    assert!(stale(&renewed, &mut stats));
}

#[test]
fn a_removed_action_cache_entry_is_seen_through_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    settle(&mut memo);
    let mut stats = no_stats(root);
    // Through another handle, as another process would.
    let other = Cache::open(&state.join("cache")).unwrap();
    other.remove_action(&cache::Digest([5; 32])).unwrap();
    let v = memo.check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Stale("step train: cache entry changed".into()));
}

/// Another build stores a result: the action cache's files move, the memo's entry is read
/// and compared (its blobs' settled stamps vouch for them), and the memo holds, restamped.
/// The entry replaced by another result does not hold.
#[test]
fn an_action_cache_written_by_another_build_is_compared_entry_by_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    settle(&mut memo);
    let mut stats = no_stats(root);
    let other = Cache::open(&state.join("cache")).unwrap();
    let key = cache::Digest([5; 32]);
    let mut entry = other.get_action(&key).unwrap().unwrap();
    other.put_action(&cache::Digest([6; 32]), &entry).unwrap();
    let v = memo.clone().check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Valid { restamped: true });

    entry.run_id = 7;
    other.put_action(&key, &entry).unwrap();
    let v = memo.check(root, &state, &mut stats, &cache).unwrap();
    assert_eq!(v, Verdict::Stale("step train: cache entry changed".into()));
}

#[test]
fn stamped_files_are_checked_without_the_stat_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    let file = root.join("pipeline.toml");
    std::fs::write(&file, "[pipeline]").unwrap();
    memo.text = Digest(cache::Digest::of_bytes(b"[pipeline]").0);
    // Stamped at a build's start just after the files were written: too close to trust.
    memo.stamp_paths(root, &file, cache::now_ns());
    assert_eq!((memo.text_stamp, memo.paths[0].stamp), (None, None), "racy stamps are not kept");
    let began = {
        std::thread::sleep(std::time::Duration::from_millis(120));
        cache::now_ns()
    };
    memo.stamp_paths(root, &file, began);
    assert!(memo.text_stamp.is_some() && memo.paths[0].stamp.is_some());
    settle(&mut memo);
    let mut stats = no_stats(root);
    assert_eq!(memo.text_digest(&file, &mut stats), Some((memo.text, false)));
    assert_eq!(
        memo.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Valid { restamped: false }
    );
    assert!(!stats.is_loaded(), "every stamp held: the stat cache is not read");

    // An edit moves the stamp: the file is hashed and the change reported; the new stamp,
    // too fresh to trust, is dropped (and the memo is to be saved without it).
    std::fs::write(root.join("train.py"), "print(2)").unwrap();
    std::fs::write(&file, "[pipeline]\n").unwrap();
    let mut stats = no_stats(root);
    let new_text = Digest(cache::Digest::of_bytes(b"[pipeline]\n").0);
    assert_eq!(memo.text_digest(&file, &mut stats), Some((new_text, true)));
    assert_eq!(memo.text_stamp, None);
    let two = FsState::File(Digest(cache::Digest::of_bytes(b"print(2)").0));
    assert_eq!(
        memo.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Changed { paths: vec![(0, two)], restamped: true }
    );
    assert_eq!(memo.paths[0].stamp, None);

    // Settled, the next check stamps it again, and the one after needs no stat cache.
    std::thread::sleep(std::time::Duration::from_millis(120));
    memo.paths[0].state = two;
    let mut stats = no_stats(root);
    assert_eq!(
        memo.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Valid { restamped: true }
    );
    assert!(memo.paths[0].stamp.is_some());
    let mut stats = no_stats(root);
    assert_eq!(
        memo.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Valid { restamped: false }
    );
    assert!(!stats.is_loaded());
}

#[test]
fn missing_paths_and_folders_without_digests_need_no_stat_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let state = root.join(".runner");
    let (cache, mut memo) = cached_step(root);
    std::fs::create_dir(root.join("src")).unwrap();
    memo.paths = vec![
        MemoPath { path: "src".into(), digest: false, state: FsState::Dir(None), stamp: None },
        MemoPath { path: "gone".into(), digest: true, state: FsState::Missing, stamp: None },
    ];
    settle(&mut memo);
    let mut stats = no_stats(root);
    assert_eq!(
        memo.check(root, &state, &mut stats, &cache).unwrap(),
        Verdict::Valid { restamped: false }
    );
    assert!(!stats.is_loaded());
    // Either one changing its kind is seen (through the stat cache) and makes it stale.
    std::fs::write(root.join("gone"), "x").unwrap();
    assert!(matches!(memo.check(root, &state, &mut stats, &cache).unwrap(), Verdict::Stale(_)));
    std::fs::remove_file(root.join("gone")).unwrap();
    std::fs::remove_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src"), "x").unwrap();
    assert!(matches!(memo.check(root, &state, &mut stats, &cache).unwrap(), Verdict::Stale(_)));
}
