//! Python sources as a step key sees them. No IO: the driver reads a file and hands its
//! text to [`analyze`].
//!
//! Two facts come out of one parse (Ruff's parser, the one ruff and ty use):
//!
//! * **A normalised digest** ([`Analysis::normalized`]): sha256 over the token stream
//!   without comments and without non-logical newlines (blank lines, line breaks inside
//!   brackets). Every other token stays with its exact source text (names, numbers, strings
//!   and docstrings with their quotes and prefixes), and the `Indent`, `Dedent` and `Newline`
//!   tokens keep the block structure, so two files have the same digest only if Python
//!   reads the same statements from them. Spacing inside a line, trailing spaces, comments
//!   and blank lines do not change it. A file that does not parse has no normalised digest:
//!   its bytes are its identity, as for any other file.
//! * **Imports** ([`Analysis::imports`]): every `import` and `from … import` statement,
//!   wherever it is (inside functions, `try` blocks, `if TYPE_CHECKING:`), and
//!   `importlib.import_module("name")` / `__import__("name")` with a literal name. What
//!   static analysis cannot see (those calls with a computed name, `exec`) is listed in
//!   [`Analysis::dynamic`], for a note that tells the user to list the module in
//!   `hash_paths`.
//!
//! Resolving an import to a file is the checker's job (`hir::modules`): it needs to know
//! which files exist, which only the driver can say.

use base::Digest;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{Expr, PySourceType, Stmt};
use ruff_text_size::{Ranged, TextSize};

/// Bumps when the normalised digest's encoding changes (with the step key's schema).
const NORMALIZED_VERSION: &str = "python-tokens-v1";

/// What [`analyze`] found in one Python file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Analysis {
    /// The digest of the token stream without comments and layout (see the crate docs);
    /// `None` when the file does not parse.
    pub normalized: Option<Digest>,
    /// Every import, in source order.
    pub imports: Vec<Import>,
    /// Imports static analysis cannot resolve, in source order.
    pub dynamic: Vec<Dynamic>,
}

/// One imported module, as written.
///
/// `import a.b` is `{ level: 0, module: ["a", "b"], names: [] }`; `from .x import y, z` is
/// `{ level: 1, module: ["x"], names: ["y", "z"] }`; `from . import y` has an empty
/// `module`. A name may be a submodule (`from pkg import mod`) or an attribute; the
/// resolver tries it as a submodule. `*` is never listed as a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Import {
    /// Leading dots: 0 for an absolute import, 1 for `from .`, 2 for `from ..`.
    pub level: u32,
    /// The dotted module path, split at dots.
    pub module: Vec<String>,
    /// The names of a `from … import` (empty for `import`).
    pub names: Vec<String>,
    /// 1-based line of the statement.
    pub line: u32,
}

/// An import the key cannot follow: a call that loads code by a computed name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dynamic {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What the call is, as written: `importlib.import_module`, `__import__`, `exec`.
    pub call: String,
}

/// Parses `text` as a Python module. Never fails: a file with syntax errors gets no
/// normalised digest, and the imports the parser could still recover.
pub fn analyze(text: &str) -> Analysis {
    let parsed = ruff_python_parser::parse_unchecked_source(text, PySourceType::Python);
    let normalized = parsed.has_valid_syntax().then(|| normalized_digest(text, parsed.tokens()));
    let lines = LineStarts::new(text);
    let mut finder = Finder { text, lines: &lines, imports: Vec::new(), dynamic: Vec::new() };
    for stmt in &parsed.syntax().body {
        finder.visit_stmt(stmt);
    }
    Analysis { normalized, imports: finder.imports, dynamic: finder.dynamic }
}

/// sha256 over every token that is not trivia: its kind, and its source text unless it is
/// layout (`Newline`, `Indent`, `Dedent`, end of file), whose text is whitespace.
fn normalized_digest(text: &str, tokens: &[ruff_python_ast::token::Token]) -> Digest {
    use ruff_python_ast::token::TokenKind as K;
    let mut buf = String::with_capacity(text.len());
    buf.push_str(NORMALIZED_VERSION);
    buf.push('\n');
    for token in tokens {
        let kind = token.kind();
        if kind.is_trivia() {
            continue;
        }
        buf.push_str(&format!("{kind:?}"));
        if !matches!(kind, K::Newline | K::Indent | K::Dedent | K::EndOfFile) {
            buf.push('\u{1}');
            buf.push_str(&text[token.range()]);
        }
        buf.push('\u{0}');
    }
    Digest::of_bytes(buf.as_bytes())
}

/// Byte offsets of line starts, for 1-based line and column numbers.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineStarts(starts)
    }

    /// (line, column), both 1-based; the column counts characters.
    fn locate(&self, text: &str, at: TextSize) -> (u32, u32) {
        let at = usize::from(at).min(text.len());
        let line = self.0.partition_point(|&s| s <= at).saturating_sub(1);
        let col = text.get(self.0[line]..at).map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }
}

/// Whether `s` is a module name as `importlib.import_module` takes it: leading dots (a
/// relative name), then identifiers joined by single dots.
fn dotted_name(s: &str) -> bool {
    let body = s.trim_start_matches('.');
    let identifier = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    };
    !body.is_empty() && body.split('.').all(identifier)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

struct Finder<'t> {
    text: &'t str,
    lines: &'t LineStarts,
    imports: Vec<Import>,
    dynamic: Vec<Dynamic>,
}

impl Finder<'_> {
    fn line(&self, at: TextSize) -> u32 {
        self.lines.locate(self.text, at).0
    }

    fn push_dotted(&mut self, level: u32, dotted: &str, names: Vec<String>, line: u32) {
        let module = if dotted.is_empty() {
            Vec::new()
        } else {
            dotted.split('.').map(str::to_owned).collect()
        };
        self.imports.push(Import { level, module, names, line });
    }

    /// A call that imports by name: a literal name is an import like any other; a
    /// computed one (and any `exec`) is dynamic.
    fn call(&mut self, call: &ruff_python_ast::ExprCall) {
        let name = match call.func.as_ref() {
            Expr::Name(n) => n.id.as_str().to_owned(),
            Expr::Attribute(a) => match a.value.as_ref() {
                Expr::Name(base) => format!("{}.{}", base.id.as_str(), a.attr.as_str()),
                _ => return,
            },
            _ => return,
        };
        if !matches!(name.as_str(), "importlib.import_module" | "__import__" | "exec") {
            return;
        }
        let literal = call.arguments.args.first().and_then(|a| a.as_string_literal_expr());
        // A literal that is not a dotted name (`"/etc/passwd"`, `"../x"`) names no module
        // Python's import system would find: followed, it could name any file.
        let literal = literal.filter(|s| dotted_name(s.value.to_str()));
        match literal {
            Some(s) if name != "exec" => {
                let dotted = s.value.to_str();
                let level = to_u32(dotted.len() - dotted.trim_start_matches('.').len());
                let line = self.line(call.start());
                self.push_dotted(level, dotted.trim_start_matches('.'), Vec::new(), line);
            }
            _ => {
                let (line, column) = self.lines.locate(self.text, call.start());
                self.dynamic.push(Dynamic { line, column, call: name });
            }
        }
    }
}

impl<'a> Visitor<'a> for Finder<'_> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                let line = self.line(i.start());
                for alias in &i.names {
                    self.push_dotted(0, alias.name.as_str(), Vec::new(), line);
                }
            }
            Stmt::ImportFrom(i) => {
                let line = self.line(i.start());
                let names = i
                    .names
                    .iter()
                    .map(|a| a.name.as_str().to_owned())
                    .filter(|n| n != "*")
                    .collect();
                let module = i.module.as_ref().map_or("", |m| m.as_str());
                self.push_dotted(i.level, module, names, line);
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            self.call(call);
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests;
