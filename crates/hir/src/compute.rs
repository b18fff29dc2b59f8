//! The values of `[compute.NAME]`'s kind keys: Slurm's time limits and memory sizes, and
//! which hosts, logins and folders may be handed to `ssh` and `sbatch`.

/// A Slurm time limit (`sbatch --time`), in seconds. Slurm's forms (sbatch(1), `--time`):
/// `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`; every field a whole
/// number. `None`: not one of them, or zero (which Slurm takes as "no limit").
pub fn time_limit_seconds(text: &str) -> Option<u64> {
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, text),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Option<_>>()?;
    let (h, m, s) = match (days.is_some(), parts.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (false, [h, m, s]) | (true, [h, m, s]) => (*h, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        _ => return None,
    };
    let total = days
        .unwrap_or(0)
        .checked_mul(86_400)?
        .checked_add(h.checked_mul(3_600)?)?
        .checked_add(m.checked_mul(60)?)?
        .checked_add(s)?;
    (total > 0).then_some(total)
}

/// Whether `text` is a Slurm memory size (`sbatch --mem`): a whole number, optionally
/// followed by one of `K`, `M`, `G`, `T` (megabytes without one).
pub fn is_mem_size(text: &str) -> bool {
    let digits = text.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(text);
    !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Why `host` cannot be handed to `ssh`, if it cannot: empty, starting with `-` (ssh would
/// read it as an option), or holding whitespace, control characters or `@` (the login
/// goes in `user`).
pub fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        Some("is empty")
    } else if host.starts_with('-') {
        Some("starts with `-`, which ssh would read as an option")
    } else if host.contains('@') {
        Some("holds `@`: give the login as `user`")
    } else if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("holds whitespace or a control character")
    } else {
        None
    }
}

/// Why `user` cannot be a login for `ssh`, if it cannot (as [`host_problem`]).
pub fn user_problem(user: &str) -> Option<&'static str> {
    if user.is_empty() {
        Some("is empty")
    } else if user.starts_with('-') {
        Some("starts with `-`, which ssh would read as an option")
    } else if user.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == ':') {
        Some("holds whitespace, a control character, `@` or `:`")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_in_slurms_forms() {
        let cases = [
            ("30", Some(1_800)),
            ("1:30", Some(90)),
            ("00:30:00", Some(1_800)),
            ("2-0", Some(172_800)),
            ("1-2:03", Some(93_780)),
            ("1-02:03:04", Some(93_784)),
            ("0", None),
            ("", None),
            ("1:2:3:4", None),
            ("-5", None),
            ("1h", None),
            ("99999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(time_limit_seconds(text), want, "{text}");
        }
    }

    #[test]
    fn memory_sizes() {
        assert!(is_mem_size("2G") && is_mem_size("512") && is_mem_size("1024M"));
        assert!(!is_mem_size("G") && !is_mem_size("2GB") && !is_mem_size("-1") && !is_mem_size(""));
    }

    #[test]
    fn hosts_and_users_that_ssh_would_misread() {
        assert_eq!(host_problem("127.0.0.1"), None);
        assert!(host_problem("-oProxyCommand=sh").is_some());
        assert!(host_problem("me@box").is_some());
        assert!(host_problem("a b").is_some());
        assert_eq!(user_problem("runner"), None);
        assert!(user_problem("-l").is_some() && user_problem("a:b").is_some());
    }
}
