//! The normalised digest against Python itself, over real files: the examples' scripts and
//! modules of Python's own standard library, each edited many ways by a seeded generator.
//!
//! * Soundness: whenever `ast.dump(ast.parse(text))` differs (Python would run something
//!   else), the digest differs. This is what keeps a stale result from being reused.
//! * Usefulness: inserting or deleting comments and blank lines, and trailing spaces, never
//!   changes the digest when Python reads the same program.
//!
//! Python is asked once for every variant (one process).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small deterministic generator (64-bit LCG, Knuth's constants).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Edit {
    /// A comment line inserted at a line start.
    CommentLine,
    /// A blank line inserted at a line start.
    BlankLine,
    /// Spaces added at a line's end.
    TrailingSpaces,
    /// A trailing comment added at a line's end.
    TrailingComment,
    /// Every comment-only line removed.
    DropCommentLines,
    /// One character deleted.
    DeleteChar,
    /// One digit changed.
    ChangeDigit,
    /// Two adjacent characters swapped.
    SwapChars,
}

const EDITS: [Edit; 8] = [
    Edit::CommentLine,
    Edit::BlankLine,
    Edit::TrailingSpaces,
    Edit::TrailingComment,
    Edit::DropCommentLines,
    Edit::DeleteChar,
    Edit::ChangeDigit,
    Edit::SwapChars,
];

fn cosmetic(e: Edit) -> bool {
    matches!(
        e,
        Edit::CommentLine
            | Edit::BlankLine
            | Edit::TrailingSpaces
            | Edit::TrailingComment
            | Edit::DropCommentLines
    )
}

fn edit(text: &str, e: Edit, rng: &mut Lcg) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = rng.below(lines.len());
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let chars: Vec<char> = text.chars().collect();
    match e {
        Edit::CommentLine => out.insert(at, "# an inserted comment\n".to_owned()),
        Edit::BlankLine => out.insert(at, "\n".to_owned()),
        Edit::TrailingSpaces | Edit::TrailingComment => {
            let line = &mut out[at];
            let body = line.trim_end_matches('\n').to_owned();
            let tail = if e == Edit::TrailingSpaces { "   " } else { "  # trailing" };
            *line = format!("{body}{tail}\n");
        }
        Edit::DropCommentLines => out.retain(|l| !l.trim_start().starts_with('#')),
        Edit::DeleteChar => {
            let i = rng.below(chars.len());
            return chars.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c).collect();
        }
        Edit::ChangeDigit => {
            let digits: Vec<usize> = chars
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let mut c = chars.clone();
            if let Some(&i) = digits.get(rng.below(digits.len())) {
                c[i] = if c[i] == '7' { '8' } else { '7' };
            }
            return c.into_iter().collect();
        }
        Edit::SwapChars => {
            let mut c = chars.clone();
            if c.len() > 1 {
                let i = rng.below(c.len() - 1);
                c.swap(i, i + 1);
            }
            return c.into_iter().collect();
        }
    }
    out.concat()
}

fn python() -> Option<String> {
    let ok =
        Command::new("python3").arg("-c").arg("import ast").status().is_ok_and(|s| s.success());
    ok.then(|| "python3".to_owned())
}

/// Real Python files: the examples', and a fixed sample of the standard library's.
fn corpus(python: &str) -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    let mut stack = vec![repo.join("examples")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "py") {
                files.push(p);
            }
        }
    }
    let out = Command::new(python)
        .args(["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"])
        .output()
        .expect("python3 runs");
    let stdlib = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    for name in [
        "argparse.py",
        "ast.py",
        "base64.py",
        "bisect.py",
        "calendar.py",
        "csv.py",
        "dataclasses.py",
        "difflib.py",
        "enum.py",
        "fractions.py",
        "functools.py",
        "glob.py",
        "heapq.py",
        "inspect.py",
        "ipaddress.py",
        "json/decoder.py",
        "json/encoder.py",
        "locale.py",
        "logging/__init__.py",
        "ntpath.py",
        "numbers.py",
        "operator.py",
        "pathlib.py",
        "pprint.py",
        "random.py",
        "shlex.py",
        "statistics.py",
        "string.py",
        "textwrap.py",
        "tokenize.py",
        "typing.py",
        "uuid.py",
        "warnings.py",
    ] {
        let p = stdlib.join(name);
        if p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    files
}

/// `ast.dump` of each text, by Python, hashed; `None` where Python does not parse it.
fn ast_dumps(python: &str, texts: &[String]) -> Vec<Option<String>> {
    let dir = tempfile::tempdir().unwrap();
    for (i, t) in texts.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i}.py")), t).unwrap();
    }
    let script = "import ast, hashlib, sys, warnings\n\
                  warnings.simplefilter('ignore')\n\
                  d, n = sys.argv[1], int(sys.argv[2])\n\
                  for i in range(n):\n\
                  \x20   try:\n\
                  \x20       src = open(f'{d}/{i}.py', encoding='utf-8').read()\n\
                  \x20       print(hashlib.sha256(ast.dump(ast.parse(src)).encode()).hexdigest())\n\
                  \x20   except Exception:\n\
                  \x20       print('-')\n";
    let out = Command::new(python)
        .args(["-c", script, &dir.path().display().to_string(), &texts.len().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| (l != "-").then(|| l.to_owned()))
        .collect()
}

#[test]
fn the_digest_changes_exactly_when_python_would_read_another_program() {
    let Some(py) = python() else {
        assert!(std::env::var_os("CI").is_none(), "python3 must run in CI");
        return;
    };
    let files = corpus(&py);
    assert!(files.len() >= 20, "a corpus of real files: {files:?}");
    let mut rng = Lcg(0x5eed);
    let mut texts = Vec::new();
    let mut meta: Vec<(usize, Option<Edit>)> = Vec::new();
    let originals: Vec<String> =
        files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
    for (i, text) in originals.iter().enumerate() {
        texts.push(text.clone());
        meta.push((i, None));
        for _ in 0..16 {
            let e = EDITS[rng.below(EDITS.len())];
            texts.push(edit(text, e, &mut rng));
            meta.push((i, Some(e)));
        }
    }
    let dumps = ast_dumps(&py, &texts);
    let originals_at: BTreeMap<usize, usize> = meta
        .iter()
        .enumerate()
        .filter(|(_, (_, e))| e.is_none())
        .map(|(k, (i, _))| (*i, k))
        .collect();
    let digests: Vec<Option<base::Digest>> =
        texts.iter().map(|t| python::analyze(t).normalized).collect();
    let (mut checked, mut same_program) = (0, 0);
    for (k, (i, e)) in meta.iter().enumerate() {
        let Some(e) = e else { continue };
        let base = originals_at[i];
        let (Some(ast_base), Some(ast_new)) = (&dumps[base], &dumps[k]) else { continue };
        let (Some(d_base), Some(d_new)) = (digests[base], digests[k]) else { continue };
        checked += 1;
        if ast_base != ast_new {
            assert_ne!(
                d_base,
                d_new,
                "{e:?} of {} changed the program, not the digest",
                files[*i].display()
            );
        } else if cosmetic(*e) {
            same_program += 1;
            assert_eq!(d_base, d_new, "{e:?} of {} changed the digest only", files[*i].display());
        }
    }
    assert!(checked > 250 && same_program > 120, "checked {checked}, cosmetic {same_program}");
}
