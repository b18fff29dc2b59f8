//! Diagnostics: one [`Code`] per kind of mistake, each defined (with its tests) in its own
//! file under `diagnostics/`, and the [`diagnostics`] query that gathers them for a file.

use syntax::Span;

use crate::group::group_checked;
use crate::{Db, SourceFile, graph, items};

pub mod cycle;
pub mod duplicate_output;
pub mod dynamic_import;
pub mod invalid_name;
pub mod invalid_reference;
pub mod invalid_value;
pub mod missing_key;
pub mod missing_script;
pub mod path_not_found;
pub mod path_outside_project;
pub mod script_and_command;
pub mod shell_interpolation;
pub mod syntax_error;
pub mod undeclared_read;
pub mod unknown_key;
pub mod unknown_placeholder;
pub mod unresolved_reference;
pub mod unused;
pub mod wrong_type;

/// How bad a diagnostic is. Errors stop a build; warnings do not; notes are facts a
/// reviewer should see, not mistakes (`runner check` and editors show them, `runner build`
/// does not print them and they do not keep the build memo from being written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
pub enum Severity {
    /// Must be fixed before the pipeline can run.
    Error,
    /// Probably a mistake; the pipeline still runs.
    Warning,
    /// Worth knowing when reviewing the pipeline; nothing to fix.
    Note,
}

macro_rules! codes {
    ($($variant:ident = $code:literal $name:literal $sev:ident,)*) => {
        /// A stable diagnostic code. The number never changes meaning; `E` codes are
        /// errors, `W` codes warnings, `N` codes notes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
        pub enum Code { $(#[doc = $name] $variant,)* }
        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
            /// `E0102`.
            pub fn as_str(self) -> &'static str { match self { $(Code::$variant => $code,)* } }
            /// `unresolved-reference`.
            pub fn name(self) -> &'static str { match self { $(Code::$variant => $name,)* } }
            /// Error, warning or note.
            pub fn severity(self) -> Severity { match self { $(Code::$variant => Severity::$sev,)* } }
        }
    };
}

codes! {
    TomlSyntax = "E0001" "toml-syntax" Error,
    TooDeep = "E0002" "nesting-too-deep" Error,
    InvalidEncoding = "E0003" "invalid-encoding" Error,
    UnknownKey = "E0101" "unknown-key" Error,
    UnresolvedReference = "E0102" "unresolved-reference" Error,
    WrongType = "E0103" "wrong-type" Error,
    MissingScript = "E0104" "missing-script" Error,
    ScriptAndCommand = "E0105" "script-and-command" Error,
    InvalidReference = "E0106" "invalid-reference" Error,
    UnknownPlaceholder = "E0107" "unknown-placeholder" Error,
    DuplicateOutput = "E0108" "duplicate-output" Error,
    Cycle = "E0109" "cycle" Error,
    PathNotFound = "E0110" "path-not-found" Error,
    InvalidName = "E0111" "invalid-name" Error,
    InvalidValue = "E0112" "invalid-value" Error,
    MissingKey = "E0113" "missing-key" Error,
    UnusedParameter = "W0201" "unused-parameter" Warning,
    UnusedData = "W0202" "unused-data-reference" Warning,
    UnusedOutput = "W0203" "unused-output" Warning,
    UnusedInput = "W0204" "unused-input" Warning,
    ShellInterpolation = "W0205" "shell-interpolation" Warning,
    UndeclaredRead = "W0206" "undeclared-read" Warning,
    PathOutsideProject = "N0301" "path-outside-project" Note,
    DynamicImport = "N0302" "dynamic-import" Note,
}

/// A secondary location that explains a diagnostic (the other end of a duplicate, another
/// step of a cycle).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Related {
    /// Where.
    pub span: Span,
    /// What is there (lowercase, no period).
    pub message: String,
}

/// An edit that fixes a diagnostic: `span`'s text becomes `replacement` (the language
/// server offers it as a quick fix).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Fix {
    /// What to replace.
    pub span: Span,
    /// With what.
    pub replacement: String,
}

/// One finding: a code, where, what, and optionally how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Diagnostic {
    /// The stable code; gives the severity.
    pub code: Code,
    /// The primary span (absolute, once out of [`diagnostics`]).
    pub span: Span,
    /// What is wrong (lowercase, no period).
    pub message: String,
    /// How to fix it, when we know (`did you mean `n_estimators`?`).
    pub help: Option<String>,
    /// Secondary locations.
    pub related: Vec<Related>,
    /// The edit that fixes it, when it is certain.
    pub fix: Option<Fix>,
}

impl Diagnostic {
    /// A diagnostic with no help and no related locations.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        let message = message.into();
        Diagnostic { code, span, message, help: None, related: Vec::new(), fix: None }
    }

    /// Adds the edit that fixes it: `span`'s text becomes `replacement`.
    pub fn with_fix(mut self, span: Span, replacement: impl Into<String>) -> Diagnostic {
        self.fix = Some(Fix { span, replacement: replacement.into() });
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a related location.
    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push(Related { span, message: message.into() });
        self
    }

    /// Error, warning or note.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    /// This diagnostic with every span moved right by `base` (relative → absolute).
    pub fn shifted(&self, base: u32) -> Diagnostic {
        let mut d = self.clone();
        d.span = d.span.shift(base);
        for r in &mut d.related {
            r.span = r.span.shift(base);
        }
        if let Some(f) = &mut d.fix {
            f.span = f.span.shift(base);
        }
        d
    }
}

/// Every diagnostic of the file, absolute spans, sorted by position then code.
#[salsa::tracked(returns(ref))]
pub fn diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    let items = items(db, file);
    let mut out: Vec<Diagnostic> = items.diagnostics.clone();
    let mut used = unused::Used::default();
    for &group in &items.groups {
        let checked = group_checked(db, group);
        used.add(checked);
        // Most groups have nothing to say; only items that do need their position (so an
        // edit above a clean item does not touch this query's inputs through it).
        if checked.diagnostics.is_empty() {
            continue;
        }
        let members = group.items(db);
        for (at, d) in &checked.diagnostics {
            if let Some(item) = members.get(*at as usize) {
                out.push(d.shifted(item.base(db)));
            }
        }
    }
    out.extend(graph::step_graph(db, file).diagnostics.iter().cloned());
    out.extend(unused::unused_items(db, items, &used));
    out.sort_by(|a, b| (a.span.start, a.code, &a.message).cmp(&(b.span.start, b.code, &b.message)));
    out.dedup();
    out
}

/// Names longer than this (in characters) get no "did you mean": a typo of a real key or
/// name is short, and comparing a name of a few megabytes with every candidate would cost
/// time and memory in proportion to its length times theirs.
pub const MAX_SUGGEST_LEN: usize = 64;

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), for "did
/// you mean" suggestions: `modle` is one edit from `model`. `None` when it is above `max`.
///
/// Costs `O(len(a) × len(b))` time and `O(len(b))` memory (three rows of the table), and
/// gives up as soon as a whole row is above `max`.
fn edit_distance(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(before[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= max)
}

/// The candidate closest to `name`, if it is close enough to be a likely typo
/// (distance ≤ 1/3 of the length, at least 1; or a case-insensitive match).
///
/// Bounded work: a `name` over [`MAX_SUGGEST_LEN`] characters gets no suggestion, and a
/// candidate whose length differs from it by more than the allowed distance is not
/// compared, so each candidate costs at most `MAX_SUGGEST_LEN²` steps, whatever the input.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if name.len() > 4 * MAX_SUGGEST_LEN {
        return None;
    }
    let a: Vec<char> = name.chars().collect();
    if a.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let limit = (a.len() / 3).max(1);
    let mut b: Vec<char> = Vec::with_capacity(MAX_SUGGEST_LEN + limit);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        // Bytes bound characters from above and from below (at most 4 bytes each).
        if c.len() > 4 * (a.len() + limit) || c.len() + limit < a.len() {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(name) {
            0
        } else {
            b.clear();
            b.extend(c.chars());
            match edit_distance(&a, &b, limit) {
                Some(d) => d,
                None => continue,
            }
        };
        if best.is_none_or(|best| (d, c) < best) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `name` as a message shows it: whole when short, else its first [`MAX_SUGGEST_LEN`]
/// characters and its length (a key of megabytes would make a message of megabytes).
pub(crate) fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    match name.char_indices().nth(MAX_SUGGEST_LEN) {
        None => name.into(),
        Some((cut, _)) => format!("{}… ({} bytes)", &name[..cut], name.len()).into(),
    }
}

/// `help: did you mean `x`?` for the closest candidate.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::{MAX_SUGGEST_LEN, suggest};

    #[test]
    fn suggestions_need_a_close_name_of_bounded_length() {
        let known = ["allow_reuse", "arguments", "hash_paths", "environment"];
        assert_eq!(suggest("alow_reuse", known), Some("allow_reuse"));
        assert_eq!(suggest("ARGUMENTS", known), Some("arguments"));
        assert_eq!(suggest("hsah_paths", known), Some("hash_paths"));
        assert_eq!(suggest("outputs", known), None);
        // At the cap a typo still gets its suggestion; past it, nothing is compared.
        let long = "x".repeat(MAX_SUGGEST_LEN);
        let typo = format!("{}y", &long[1..]);
        assert_eq!(suggest(&typo, [long.as_str()]), Some(long.as_str()));
        let longer = format!("{long}x");
        assert_eq!(suggest(&format!("{long}y"), [longer.as_str()]), None);
        let huge = "k".repeat(5 << 20);
        assert_eq!(suggest(&huge, [huge.as_str()]), None);
    }
}
