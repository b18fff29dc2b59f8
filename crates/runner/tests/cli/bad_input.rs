//! The bad-input corpus through the real binary: every case yields diagnostics and exit 1
//! (an empty file: exit 0), never a panic (exit 101), a hang or a stack overflow. How fast
//! each answers is measured by `bench/bad_input.sh`, not asserted here.

use crate::support::Project;

/// Writes `bytes` as pipeline.toml, runs `runner check --format json`, returns (exit code,
/// error codes reported).
fn check_bytes(bytes: &[u8]) -> (Option<i32>, Vec<String>) {
    let p = Project::new();
    std::fs::write(p.path("pipeline.toml"), bytes).unwrap();
    let run = p.run(&["check", ".", "--format", "json"]);
    assert_ne!(run.code, Some(101), "panicked\n{}", run.transcript());
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON document ({e})\n{}", run.transcript()));
    let codes = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    (run.code, codes)
}

#[test]
fn empty_file_is_a_valid_empty_pipeline() {
    assert_eq!(check_bytes(b""), (Some(0), vec![]));
}

#[test]
fn invalid_utf8_is_reported_with_its_own_code() {
    let (code, codes) = check_bytes(b"[steps.a]\ncommand = [\"echo\", \"\xff\xfe\"]\n");
    assert_eq!(code, Some(1));
    assert!(codes.contains(&"E0003".to_owned()), "{codes:?}");
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (code, codes) = check_bytes(&garbage);
    assert_eq!(code, Some(1));
    assert!(!codes.is_empty());
}

#[test]
fn deep_nesting_of_arrays_and_inline_tables() {
    let arrays = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let tables = format!("a = {}1{}", "{b = ".repeat(100_000), "}".repeat(100_000));
    for text in [arrays, tables] {
        let (code, codes) = check_bytes(text.as_bytes());
        assert_eq!(code, Some(1));
        assert_eq!(codes, vec!["E0002"]);
    }
}

#[test]
fn syntax_errors_everywhere_keep_semantic_diagnostics() {
    let text = "[steps.a\ncommand = [\"true\"]\n[steps.b]\ncommand = [\"cat\", \"${inputs.x}\"]\ninputs = { x = \"data.nope\" }\n= 3\n";
    let (code, codes) = check_bytes(text.as_bytes());
    assert_eq!(code, Some(1));
    assert!(codes.contains(&"E0001".to_owned()), "{codes:?}");
    assert!(
        codes.contains(&"E0102".to_owned()),
        "the step below the broken header is still checked: {codes:?}"
    );
}

#[test]
fn ten_megabyte_file() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10_000_000 {
        text.push_str(&format!(
            "[steps.s{i}]\ncommand = [\"echo\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\n"
        ));
        i += 1;
    }
    text.push_str("[steps.broken\n");
    let (code, codes) = check_bytes(text.as_bytes());
    assert_eq!(code, Some(1));
    // The broken header, and the step it still declares has no script.
    assert_eq!(codes, vec!["E0104", "E0001"]);
}

/// `runner schema | head -1`: the reader goes away; the runner ends quietly with success
/// instead of panicking on the broken pipe.
#[test]
fn closed_stdout_is_not_a_panic() {
    let p = Project::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out =
        p.cmd().arg("schema").stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The mutated-pipeline corpus: real pipelines with bytes flipped, cut short, repeated,
/// NULs and invalid UTF-8 put in, nesting, huge keys and strings (deterministic: a fixed
/// seed). `check --format json`, `build --dry-run` and, for pipelines whose steps are
/// harmless `sh` one-liners, `build`, each answer within a generous guard, with exit 0, 1
/// or 2 and never a panic.
#[allow(clippy::print_stderr)] // the corpus's figures, shown with --nocapture
mod mutated {
    use std::io::Read as _;
    use std::path::Path;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    use crate::support::{Project, runner_bin};

    /// Far above what any case takes; only a hang or a blow-up reaches it.
    const GUARD: Duration = Duration::from_secs(5);

    /// splitmix64: a small deterministic generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// A number in `0..n` (`n` > 0).
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Where the line after byte `at` starts (or the end).
    fn next_line(text: &[u8], at: usize) -> usize {
        text[at..].iter().position(|&b| b == b'\n').map_or(text.len(), |i| at + i + 1)
    }

    /// The mutations of `base`, named.
    fn mutations(base: &[u8], rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let at = |rng: &mut Rng| rng.below(base.len() + 1);
        let insert = |at: usize, what: &[u8]| {
            let mut t = base.to_vec();
            t.splice(at..at, what.iter().copied());
            t
        };
        for i in 0..14 {
            let mut t = base.to_vec();
            for _ in 0..=i % 3 {
                let p = rng.below(t.len());
                t[p] = rng.next() as u8;
            }
            out.push((format!("flip{i}"), t));
        }
        for i in 0..6 {
            out.push((format!("truncate{i}"), base[..at(rng)].to_vec()));
        }
        for i in 0..5 {
            let (a, b) = (at(rng), at(rng));
            let piece = &base[a.min(b)..a.max(b)];
            out.push((format!("duplicate{i}"), insert(at(rng), piece)));
        }
        for i in 0..4 {
            out.push((format!("nul{i}"), insert(at(rng), b"\0")));
        }
        // A NUL inside the first string that names a path or program, as TOML writes it.
        for key in [&b"script = \""[..], b"path = \"", b"command = [\"", b"hash_paths = [\""] {
            if let Some(p) = base.windows(key.len()).position(|w| w == key) {
                out.push(("nul-escape".to_owned(), insert(p + key.len() + 1, b"\\u0000")));
            }
        }
        for i in 0..3 {
            out.push((format!("utf8-{i}"), insert(at(rng), b"\xff\xfe\xc3")));
        }
        let line = next_line(base, rng.below(base.len()));
        let deep = format!("deep = {}1{}\n", "[".repeat(500), "]".repeat(500));
        out.push(("deep-array".to_owned(), insert(line, deep.as_bytes())));
        let deep = format!("deep = {}\n", "{ a = ".repeat(100_000));
        out.push(("deep-unclosed".to_owned(), insert(line, deep.as_bytes())));
        let key = format!("{} = 1\n", "k".repeat(1 << 20));
        out.push(("huge-key".to_owned(), insert(line, key.as_bytes())));
        let string = format!("description = \"{}\"\n", "s".repeat(1 << 20));
        out.push(("huge-string".to_owned(), insert(line, string.as_bytes())));
        let headers = "[steps.x]\n".repeat(20_000);
        out.push(("many-headers".to_owned(), insert(line, headers.as_bytes())));
        out
    }

    /// `runner ARGS` in `p`; panics past [`GUARD`]. Returns (exit code, stdout, stderr,
    /// time taken).
    fn run(p: &Project, case: &str, args: &[&str]) -> (Option<i32>, String, String, Duration) {
        let started = Instant::now();
        let mut child = std::process::Command::new(runner_bin())
            .args(args)
            .current_dir(p.root())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let drain = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if started.elapsed() > GUARD {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{case}: `runner {args:?}` took over {GUARD:?} in {}", p.root().display());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        (status.code(), out.join().unwrap(), err.join().unwrap(), elapsed)
    }

    /// Copies the folder `from` into `to`, leaving out `skip`.
    fn copy_dir(from: &Path, to: &Path, skip: &str) {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let name = e.file_name();
            if name == skip {
                continue;
            }
            let (src, dst) = (e.path(), to.join(&name));
            if e.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&dst).unwrap();
                copy_dir(&src, &dst, skip);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }

    /// Runs every case of every base; returns (cases, invocations, slowest).
    fn run_corpus() -> (usize, usize, Duration) {
        let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits");
        let bases: [(&str, Vec<u8>, bool); 3] = [
            ("digits", std::fs::read(digits.join("pipeline.toml")).unwrap(), false),
            ("chain", crate::CHAIN_TOML.as_bytes().to_vec(), true),
            ("shell", SHELL_TOML.as_bytes().to_vec(), true),
        ];
        let mut rng = Rng(0x0005_eed0_fba5);
        let (mut cases, mut runs, mut slowest) = (0, 0, Duration::ZERO);
        for (name, base, harmless) in &bases {
            for (mutation, bytes) in mutations(base, &mut rng) {
                let p = if *name == "digits" {
                    let p = Project::new();
                    copy_dir(&digits, p.root(), "datastore");
                    p.write("datastore/raw/digits.csv", "0,1\n");
                    p
                } else {
                    crate::chain()
                };
                std::fs::write(p.path("pipeline.toml"), &bytes).unwrap();
                let case = format!("{name}/{mutation}");
                let mut commands: Vec<&[&str]> =
                    vec![&["check", ".", "--format", "json"], &["build", ".", "--dry-run"]];
                if *harmless {
                    commands.push(&["build", ".", "-j", "2"]);
                }
                for args in commands {
                    let (code, stdout, stderr, took) = run(&p, &case, args);
                    if std::env::var_os("CORPUS_TIMES").is_some() {
                        eprintln!("{took:?} {case} {args:?} {code:?}");
                    }
                    let context = || format!("{case}: runner {args:?} → {code:?}\n{stderr}");
                    assert!(matches!(code, Some(0..=2)), "{}", context());
                    assert!(!stderr.contains("panicked"), "{}", context());
                    if args[0] == "check" && code != Some(2) {
                        let doc: serde_json::Value = serde_json::from_str(stdout.trim())
                            .unwrap_or_else(|e| panic!("no JSON ({e}): {}", context()));
                        assert!(doc["diagnostics"].is_array(), "{}", context());
                    }
                    slowest = slowest.max(took);
                    runs += 1;
                }
                cases += 1;
            }
        }
        (cases, runs, slowest)
    }

    /// A pipeline of harmless `sh` steps: placeholders passed as positional arguments.
    const SHELL_TOML: &str = r#"[parameters]
word = "hello"

[steps.make]
command = ["sh", "-c", "echo \"$1\" > \"$0/w.txt\"", "${outputs.out}", "${params.word}"]
outputs = ["out"]
timeout = 30

[steps.copy]
command = ["sh", "-c", "cp \"$0/w.txt\" \"$1/w.txt\"", "${inputs.w}", "${outputs.out}"]
inputs = { w = "steps.make.outputs.out" }
outputs = ["out"]
"#;

    #[test]
    fn mutated_pipelines_through_check_and_build() {
        let (cases, runs, slowest) = run_corpus();
        eprintln!("mutated corpus: {cases} cases, {runs} runs, slowest {slowest:?}");
        assert!(cases > 100, "{cases} cases");
    }
}

/// An unknown key of 5 MB is checked with bounded work: no "did you mean" for it (the
/// suggestion compares no name that long), the list of known keys instead. (How long it
/// takes is measured by `bench/bad_input.sh`; the corpus above guards against a hang.)
#[test]
fn five_megabyte_unknown_key() {
    let p = Project::new();
    let key = "k".repeat(5 << 20);
    let text = format!("[steps.a]\ncommand = [\"true\"]\n{key} = 1\n");
    std::fs::write(p.path("pipeline.toml"), text).unwrap();
    let run = p.run(&["check", ".", "--format", "json"]);
    run.assert_code(1);
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "E0101");
    assert!(d["help"].as_str().unwrap().starts_with("expected one of: script, command"), "{d}");
}
