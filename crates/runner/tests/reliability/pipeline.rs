//! A generated pipeline whose every output is a digest of its step's label and its inputs,
//! so the test knows what each output must hold without running anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::support::Project;

/// One step: its name, the steps it reads, and how long it sleeps (seconds) halfway
/// through writing its output.
pub struct Step {
    pub name: String,
    pub inputs: Vec<String>,
    pub sleep: f64,
}

/// A pipeline of `n` steps: a quarter of them sources, the rest each reading one to three
/// earlier steps (a deterministic pseudo-random DAG from `seed`).
pub fn generate(n: usize, seed: u64, sleep: f64) -> Vec<Step> {
    let mut rng = Rng(seed);
    let sources = (n / 4).max(1);
    (0..n)
        .map(|i| {
            let inputs = if i < sources {
                Vec::new()
            } else {
                let k = 1 + rng.below(3);
                let mut picked: Vec<usize> = (0..k).map(|_| rng.below(i)).collect();
                picked.sort_unstable();
                picked.dedup();
                picked.into_iter().map(|j| format!("s{j}")).collect()
            };
            Step { name: format!("s{i}"), inputs, sleep: sleep * (1 + rng.below(3)) as f64 }
        })
        .collect()
}

/// Writes `steps` as `pipeline.toml` in `p`, with parameter `salt` in every step's label.
/// Each step writes a partial output, sleeps, then writes `sha256(label \n inputs…)`.
pub fn write(p: &Project, steps: &[Step]) {
    let mut toml = String::from("[parameters]\nsalt = \"0\"\n\n");
    for s in steps {
        let mut args = vec![
            "\"${outputs.out}\"".to_owned(),
            format!("\"{}:${{params.salt}}\"", s.name),
            format!("\"{}\"", s.sleep),
        ];
        args.extend(s.inputs.iter().map(|i| format!("\"${{inputs.{i}}}\"")));
        let inputs: Vec<String> =
            s.inputs.iter().map(|i| format!("{i} = \"steps.{i}.outputs.out\"")).collect();
        let _ = write!(
            toml,
            "[steps.{}]\ncommand = [\"sh\", \"-c\", {}, {}]\ninputs = {{ {} }}\noutputs = [\"out\"]\n\n",
            s.name,
            SCRIPT,
            args.join(", "),
            inputs.join(", ")
        );
    }
    p.write("pipeline.toml", &toml);
}

/// `$0` the output folder, `$1` the label, `$2` the sleep, then the input folders.
const SCRIPT: &str = r#""printf partial > \"$0/out.txt\"; sleep \"$2\"; out=\"$0\"; label=\"$1\"; shift 2; { printf '%s\\n' \"$label\"; for d; do cat \"$d/out.txt\"; done; } | sha256sum | cut -c1-64 > \"$out/out.txt\"""#;

/// What each step's `out.txt` must hold for parameter `salt`.
pub fn expected(steps: &[Step], salt: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for s in steps {
        let mut text = format!("{}:{salt}\n", s.name);
        for i in &s.inputs {
            text.push_str(&out[i]);
        }
        out.insert(
            s.name.clone(),
            format!("{}\n", cache::Digest::of_bytes(text.as_bytes()).to_hex()),
        );
    }
    out
}

/// The steps whose view does not hold what `expected` says (with what it holds).
pub fn wrong_views(p: &Project, expected: &BTreeMap<String, String>) -> Vec<String> {
    expected
        .iter()
        .filter_map(|(step, want)| {
            let got =
                std::fs::read_to_string(p.state().join(format!("outputs/{step}.out/out.txt")))
                    .unwrap_or_else(|e| format!("<{e}>"));
            (&got != want).then(|| format!("{step}: {got:?}"))
        })
        .collect()
}

/// Processes whose environment holds `NAME=value` exactly (found through `/proc`).
pub fn processes_with_env(entry: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            continue;
        }
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|&b| b == 0).any(|kv| kv == entry.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// A small deterministic generator (xorshift), so every run of the suite is the same.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `name` from the environment as a number, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
