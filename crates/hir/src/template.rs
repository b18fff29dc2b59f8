//! Placeholders in `arguments`, `command` and `env`: `${inputs.NAME}`, `${outputs.NAME}`,
//! `${params.NAME}`; `$${` is a literal `${`.
//!
//! Expansion replaces text inside one string; it never splits or joins argv elements and
//! nothing goes through a shell, so a parameter value is always exactly one argument.

/// The three kinds of placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `${inputs.NAME}`: the input's path.
    Inputs,
    /// `${outputs.NAME}`: the output's folder.
    Outputs,
    /// `${params.NAME}`: the parameter's value.
    Params,
}

impl Kind {
    /// `inputs`, `outputs` or `params`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Inputs => "inputs",
            Kind::Outputs => "outputs",
            Kind::Params => "params",
        }
    }
}

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (with `$${` already turned into `${`).
    Text(String),
    /// A well-formed placeholder.
    Placeholder {
        /// Its kind.
        kind: Kind,
        /// The name after the dot.
        name: &'a str,
        /// The placeholder's text, `${…}`.
        text: &'a str,
    },
    /// A `${` that is not a well-formed placeholder: the text from `${` to the closing `}`
    /// (or to the end).
    Malformed(&'a str),
}

/// Splits `template` into pieces.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        if at > 0 && rest[..at].ends_with('$') {
            text.push_str(&rest[..at - 1]);
            text.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        text.push_str(&rest[..at]);
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        let after = &rest[at..];
        let Some(close) = after.find('}') else {
            out.push(Piece::Malformed(after));
            rest = "";
            break;
        };
        let whole = &after[..=close];
        let inner = &after[2..close];
        let piece = match inner.split_once('.') {
            Some((kind, name)) if !name.is_empty() => {
                let kind = match kind {
                    "inputs" => Some(Kind::Inputs),
                    "outputs" => Some(Kind::Outputs),
                    "params" => Some(Kind::Params),
                    _ => None,
                };
                match kind {
                    Some(kind) => Piece::Placeholder { kind, name, text: whole },
                    None => Piece::Malformed(whole),
                }
            }
            _ => Piece::Malformed(whole),
        };
        out.push(piece);
        rest = &after[close + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Expands `template`, replacing each placeholder by `value(kind, name)`; a placeholder for
/// which `value` returns `None` (and any malformed one) is kept as written.
pub fn expand(template: &str, mut value: impl FnMut(Kind, &str) -> Option<String>) -> String {
    let mut out = String::new();
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Placeholder { kind, name, text } => match value(kind, name) {
                Some(v) => out.push_str(&v),
                None => out.push_str(text),
            },
            Piece::Malformed(t) => out.push_str(t),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_inside_longer_strings_and_keeps_escapes() {
        let got = expand("--lr=${params.lr} cost $${HOME} ${outputs.m}/x ${bad", |k, n| {
            (k == Kind::Params).then(|| format!("<{n}>"))
        });
        assert_eq!(got, "--lr=<lr> cost ${HOME} ${outputs.m}/x ${bad");
    }

    #[test]
    fn values_are_never_reinterpreted() {
        let got =
            expand("${params.x}", |_, _| Some("; rm -rf / $(echo) `id` ${params.x}\n".into()));
        assert_eq!(got, "; rm -rf / $(echo) `id` ${params.x}\n");
    }
}
