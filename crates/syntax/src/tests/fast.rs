//! The fast path ([`crate::fast`]) against `toml`: on every document it accepts, the same
//! tree and spans and no error; on anything else, no answer (and never a panic).
//!
//! Documents come from a small grammar of chunk-like text (headers, keys, values, comments,
//! line breaks), half of them then mutated byte by byte, from a fixed-seed generator.

use crate::{fast, parse_with_toml};

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len())]
    }

    /// One of `good`, or one of `bad` once in 12 times.
    fn either<'a>(&mut self, good: &[&'a str], bad: &[&'a str]) -> &'a str {
        if self.below(12) == 0 { self.pick(bad) } else { self.pick(good) }
    }
}

const KEYS: &[&str] =
    &["script", "command", "outputs", "inputs", "a", "b-c", "d_1", "1", "true", "x"];

const BAD_KEYS: &[&str] = &["x", "\"q\"", "'l'", "a.b", "a . b", "é", "", "k k"];

/// A key: usually a distinct bare one, sometimes a repeated or non-bare one.
fn key(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => rng.pick(BAD_KEYS).to_owned(),
        1 => rng.pick(KEYS).to_owned(),
        _ => format!("{}{}", rng.pick(KEYS), rng.below(1000)),
    }
}

const SCALARS: &[&str] = &[
    "\"echo\"",
    "\"${outputs.o}\"",
    "\"\"",
    "\"tab\there\"",
    "\"é ü\"",
    "'lit'",
    "0",
    "-0",
    "+7",
    "42",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "1.5",
    "-0.0",
    "+1.5e-3",
    "1E5",
    "1e05",
    "true",
    "false",
];

const BAD_SCALARS: &[&str] = &[
    "\"esc\\n\"",
    "\"\\u00e9\"",
    "'lit\\eral'",
    "''",
    "\"\"\"multi\"\"\"",
    "'''multi'''",
    "\"unterminated",
    "0",
    "-0",
    "+7",
    "42",
    "007",
    "1_000",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "0x1F",
    "0o7",
    "1.",
    ".5",
    "00.5",
    "inf",
    "-nan",
    "truex",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
    "bare",
];

const GAPS: &[&str] = &["", " ", "  ", "", " ", "\t", "\n", "\r\n", " # c\n", "\n  ", "# x\n"];

fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 1 } else { 10 }) {
        0..=5 => rng.either(SCALARS, BAD_SCALARS).to_owned(),
        6 | 7 => {
            let n = rng.below(4);
            let mut s = String::from("[");
            for i in 0..n {
                s.push_str(rng.pick(GAPS));
                s.push_str(&value(rng, depth + 1));
                s.push_str(rng.pick(GAPS));
                if i + 1 < n || rng.below(3) == 0 {
                    s.push(',');
                }
            }
            s.push_str(rng.pick(GAPS));
            s.push(']');
            s
        }
        _ => {
            let n = rng.below(4);
            let mut s = String::from("{");
            for i in 0..n {
                s.push_str(rng.pick(&[" ", "", "  "]));
                s.push_str(&key(rng));
                s.push_str(rng.pick(&[" = ", "=", " =", "= "]));
                s.push_str(&value(rng, depth + 1));
                if i + 1 < n || rng.below(12) == 0 {
                    s.push(',');
                }
                if rng.below(20) == 0 {
                    s.push('\n');
                }
            }
            s.push_str(rng.pick(&[" ", ""]));
            s.push('}');
            s
        }
    }
}

fn document(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.below(4) == 0 {
        s.push_str(rng.pick(&["\n", "# lead\n", "  \n", "\r\n"]));
    }
    if rng.below(10) != 0 {
        let good =
            &["[steps.s0]", "[ steps . s1 ]", "[parameters]", "[steps.a.inputs]", "[data.x]"];
        if rng.below(3) != 0 {
            s.push_str(rng.pick(good));
        } else {
            s.push_str(rng.pick(&[
                "[steps.s0]",
                "[ steps . s1 ]",
                "[parameters]",
                "[steps.a.inputs]",
                "[data.x]",
                "[steps]",
                "[[arr]]",
                "[\"q\".a]",
                "[a.]",
                "[]",
                "[steps.s2] # c",
                "[steps.s3] x",
                "  [steps.s4]",
            ]));
        }
        s.push_str(rng.pick(&["\n", "\r\n", "\n", "\n\n", ""]));
    }
    for _ in 0..rng.below(6) {
        match rng.below(16) {
            0 => s.push_str(rng.pick(&["# comment\n", "\n", "  # x\r\n", "#\u{1}\n"])),
            1 => s.push_str(rng.pick(&["[steps.other]\n", "[[t]]\n", "junk\n"])),
            _ => {
                s.push_str(rng.pick(&["", "  ", "\t", ""]));
                s.push_str(&key(rng));
                s.push_str(rng.either(&[" = ", "=", " =\t"], &[" ", " = = "]));
                s.push_str(&value(rng, 0));
                s.push_str(rng.either(&["\n", "\r\n", " # t\n"], &[" x\n", "\r", ""]));
            }
        }
    }
    s
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    const BYTES: &[&str] = &[
        "\"", "'", "[", "]", "{", "}", ",", "=", "#", "\n", "\r", "\t", " ", ".", "\\", "\0", "é",
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if at < chars.len() => {
                chars.remove(at);
            }
            1 if at < chars.len() => chars[at] = rng.pick(BYTES).chars().next().unwrap_or(' '),
            _ => chars.insert(at, rng.pick(BYTES).chars().next().unwrap_or(' ')),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn fast_path_agrees_with_toml() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut total) = (0, 0);
    for i in 0..40_000 {
        let mut text = document(&mut rng);
        if i % 3 == 1 {
            text = mutate(&mut rng, &text);
        }
        total += 1;
        if let Some(fast) = fast::parse(&text) {
            accepted += 1;
            let slow = parse_with_toml(&text);
            assert_eq!(fast, slow, "fast path disagrees with toml on {text:?}");
        }
    }
    // The grammar is built so that a good share takes the fast path.
    assert!(accepted * 5 > total, "only {accepted} of {total} documents took the fast path");
}

#[test]
fn fast_path_takes_typical_chunks() {
    for text in [
        "[steps.s0]\ncommand = [\"echo\", \"${outputs.o}\"]\noutputs = [\"o\"]\n",
        "[steps.train]\nscript = \"train.py\"\narguments = [\"--n\", 3, 1.5, true]\ninputs = { d = \"steps.prep.outputs.split\", e = 'x' }\ntimeout = 10\n",
        "[parameters]\nseed = 42\nlr = { default = 0.1, description = \"rate\" }\n",
        "",
        "\n# only a comment\n",
        "[ a . b . c ]  # c\r\n\r\nk = [\r\n  1, # one\r\n  2,\r\n]\r\n",
    ] {
        let fast = fast::parse(text).unwrap_or_else(|| panic!("no fast path for {text:?}"));
        assert_eq!(fast, parse_with_toml(text), "{text:?}");
    }
}

#[test]
fn fast_path_never_panics_on_bytes() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let n = rng.below(64);
        const ALPHABET: &[u8] = b"[]{}\"'=,.#\n\r\t abc019-_+e\\\xc3\xa9";
        let bytes: Vec<u8> = (0..n).map(|_| ALPHABET[rng.below(ALPHABET.len())]).collect();
        let text = String::from_utf8_lossy(&bytes);
        let text = format!("[steps.x]\nk = {text}");
        if let Some(fast) = fast::parse(&text) {
            assert_eq!(fast, parse_with_toml(&text), "{text:?}");
        }
    }
}

/// On valid TOML, chunks start exactly at the header lines: documents made of sections
/// (a header and a generated body, with multi-line arrays, comments and strings holding
/// brackets) split into one chunk per section, each of which parses without error.
#[test]
fn valid_documents_split_at_every_header() {
    let mut rng = Rng(0xdead_beef);
    let mut checked = 0;
    for _ in 0..5_000 {
        let sections = 1 + rng.below(5);
        let mut text = String::new();
        for s in 0..sections {
            text.push_str(&format!("[steps.t{s}]\n"));
            for _ in 0..rng.below(4) {
                text.push_str(&format!("{} = {}\n", key(&mut rng), value(&mut rng, 0)));
            }
            if rng.below(3) == 0 {
                text.push_str("x = \"[not.a.header]\"\ny = '''\n[nor.this]\n'''\n# [or.this]\n");
            }
        }
        if !parse_with_toml(&text).errors.is_empty() {
            continue;
        }
        checked += 1;
        let chunks = crate::chunks(&text);
        assert_eq!(chunks.len(), sections, "{text:?}");
        for &(s, e) in &chunks {
            let chunk = &text[s as usize..e as usize];
            assert!(chunk.starts_with("[steps.t"), "{text:?}");
            assert!(parse_with_toml(chunk).errors.is_empty(), "{chunk:?} in {text:?}");
        }
    }
    assert!(checked > 1_000, "only {checked} valid documents");
}
