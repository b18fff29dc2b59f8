//! The owned, spanned document tree.

use toml::de::{DeTable, DeValue};

use crate::{Span, SyntaxError, SyntaxErrorKind, span_of};

/// A table: its entries in source order (TOML forbids duplicate keys, so names are
/// unique; a duplicate is a syntax error and only the first is kept).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, salsa::SalsaValue)]
pub struct Table {
    /// Entries in the order they appear.
    pub entries: Vec<Entry>,
}

/// `key = value`, or a sub-table named `key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Entry {
    /// The key's text, unquoted.
    pub key: String,
    /// Where the key is written (for a table header `[steps.a]`, the `a`).
    pub key_span: Span,
    /// The value.
    pub node: Node,
}

/// A value with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Node {
    /// Where the value is written; for a table made by a header, the header.
    pub span: Span,
    /// The value itself.
    pub value: Value,
}

/// A TOML value. Numbers keep their source text, so a float compares and hashes exactly
/// and a step key sees what the user wrote.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Value {
    /// A string, escapes resolved.
    String(String),
    /// An integer, or `None` when it overflows `i64` (the raw text is kept for messages).
    Integer(Option<i64>, String),
    /// A float's source text (`1.0`, `5e-3`, `inf`).
    Float(String),
    /// `true` or `false`.
    Bool(bool),
    /// An offset or local date-time, date or time, as text.
    Datetime(String),
    /// An array.
    Array(Vec<Node>),
    /// A table (a header, a dotted key or an inline table).
    Table(Table),
}

impl Value {
    /// The TOML type name, as messages say it: `string`, `integer`, `float`, `boolean`,
    /// `datetime`, `array`, `table`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(..) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
        }
    }
}

impl Table {
    /// The entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Every span in this table moved left by `base`; see [`Span::rebase`].
    pub fn rebase(&self, base: u32) -> Table {
        Table {
            entries: self
                .entries
                .iter()
                .map(|e| Entry {
                    key: e.key.clone(),
                    key_span: e.key_span.rebase(base),
                    node: e.node.rebase(base),
                })
                .collect(),
        }
    }

    /// The smallest start offset of any key or value in the table, recursively.
    pub fn min_start(&self) -> Option<u32> {
        self.entries.iter().map(|e| e.key_span.start.min(e.node.min_start())).min()
    }
}

impl Node {
    /// Every span in this node moved left by `base`; see [`Span::rebase`].
    pub fn rebase(&self, base: u32) -> Node {
        let value = match &self.value {
            Value::Array(items) => Value::Array(items.iter().map(|n| n.rebase(base)).collect()),
            Value::Table(t) => Value::Table(t.rebase(base)),
            other => other.clone(),
        };
        Node { span: self.span.rebase(base), value }
    }

    /// The smallest start offset in this node, recursively.
    pub fn min_start(&self) -> u32 {
        let inner = match &self.value {
            Value::Array(items) => items.iter().map(Node::min_start).min(),
            Value::Table(t) => t.min_start(),
            _ => None,
        };
        inner.map_or(self.span.start, |i| i.min(self.span.start))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// `toml`'s tree as ours. `toml` leaves integers unchecked until they are deserialized, so
/// a malformed or out-of-range one is added to `errors` here.
pub(crate) fn table_from_de(table: &DeTable<'_>, errors: &mut Vec<SyntaxError>) -> Table {
    Table {
        entries: table
            .iter()
            .map(|(k, v)| Entry {
                key: k.get_ref().to_string(),
                key_span: span_of(k.span()),
                node: node_from_de(v.get_ref(), span_of(v.span()), errors),
            })
            .collect(),
    }
}

fn node_from_de(value: &DeValue<'_>, span: Span, errors: &mut Vec<SyntaxError>) -> Node {
    let value = match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            // `as_str` is the digits without prefix or `_`; the text keeps the prefix.
            let text = match i.radix() {
                16 => format!("0x{}", i.as_str()),
                8 => format!("0o{}", i.as_str()),
                2 => format!("0b{}", i.as_str()),
                _ => i.as_str().to_owned(),
            };
            let value = integer_value(&text, i.radix());
            let problem = if !well_formed(i.as_str(), i.radix()) {
                Some(format!("invalid integer `{text}`"))
            } else if matches!(value, Value::Integer(None, _)) {
                Some(format!(
                    "integer `{text}` out of range: TOML integers are between {} and {}",
                    i64::MIN,
                    i64::MAX
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                errors.push(SyntaxError { span, message, kind: SyntaxErrorKind::Toml });
            }
            value
        }
        DeValue::Float(f) => Value::Float(f.as_str().to_owned()),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items.iter().map(|n| node_from_de(n.get_ref(), span_of(n.span()), errors)).collect(),
        ),
        DeValue::Table(t) => Value::Table(table_from_de(t, errors)),
    };
    Node { span, value }
}

/// Whether `digits` (an integer as `toml` decodes it: sign and digits, no prefix, no `_`)
/// has at least one digit and only digits of `radix`. `toml`'s lexer takes `0b`, `0x` and
/// `1_0٠` (an Arabic-Indic zero) as integers and leaves the check to whoever reads them.
fn well_formed(digits: &str, radix: u32) -> bool {
    let digits =
        if radix == 10 { digits.strip_prefix(['+', '-']).unwrap_or(digits) } else { digits };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

/// An integer's value (`i64` when it fits) from its text (sign, `0x`/`0o`/`0b` prefix
/// for its radix, `_` allowed) and radix.
pub(crate) fn integer_value(raw: &str, radix: u32) -> Value {
    let text = raw.replace('_', "");
    let parsed = match radix {
        // With its sign, so that i64::MIN fits.
        10 => text.parse::<i64>().ok(),
        _ => text.get(2..).and_then(|digits| i64::from_str_radix(digits, radix).ok()),
    };
    Value::Integer(parsed, raw.to_owned())
}
