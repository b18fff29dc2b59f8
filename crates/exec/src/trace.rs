//! Tracing the files a process opens, with `strace` (Debian's package).
//!
//! Why `strace`: it needs no privilege (it is `ptrace` on the process it starts), follows
//! every child (`-f`), and with `--seccomp-bpf` stops the process only at the system calls
//! traced, not at every one. Landlock's audit mode would cost less but needs Linux 6.15 and
//! a kernel configured for it; fanotify needs `CAP_SYS_ADMIN`; an `LD_PRELOAD` shim misses
//! static binaries and direct system calls. The cost is a stop per `open`: a Python start
//! opens hundreds of files, so tracing is opt-in (`trace_reads`).
//!
//! [`wrap`] turns a process's argv into one that runs under `strace`, writing its log to a
//! file; [`opened_for_reading`] reads that log back. Only successful `open`, `openat` and
//! `openat2` calls are traced, with `-y` so that each line ends with the path the kernel
//! resolved (`= 3</abs/path>`: absolute, symbolic links resolved, whatever the process's
//! working folder was).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::ProcessSpec;

/// The tracer, looked up on `PATH`.
pub const STRACE: &str = "strace";

/// `spec` run under `strace`, which writes one line per file opened to `log`.
pub fn wrap(spec: &mut ProcessSpec, log: &Path) {
    let mut argv: Vec<OsString> = [
        STRACE,
        "-f",
        "-qq",
        "-y",
        "--seccomp-bpf",
        "-e",
        "trace=open,openat,openat2",
        "-e",
        "status=successful",
        "-o",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    argv.push(log.as_os_str().to_owned());
    argv.push("--".into());
    argv.append(&mut spec.argv);
    spec.argv = argv;
}

/// Whether `strace` can be run here (on `PATH` and allowed to trace: a container may forbid
/// `ptrace`).
pub fn available() -> bool {
    std::process::Command::new(STRACE)
        .args(["-qq", "-e", "trace=none", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The files opened for reading in `strace` log text (as [`wrap`] writes it): each path
/// once, in the order first opened. Opens for writing only (`O_WRONLY`) and of folders
/// (`O_DIRECTORY`, a listing) are left out; a line that does not parse is skipped.
pub fn opened_for_reading(log: &str) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let Some(path) = read_path(line) else { continue };
        if seen.insert(path.clone()) {
            out.push(path);
        }
    }
    out
}

/// The resolved path of one traced open that reads a file.
fn read_path(line: &str) -> Option<PathBuf> {
    let call = line.find("open")?;
    let flags_and_result = &line[call..];
    if flags_and_result.contains("O_WRONLY") || flags_and_result.contains("O_DIRECTORY") {
        return None;
    }
    let (_, result) = flags_and_result.rsplit_once(") = ")?;
    let start = result.find('<')?;
    let path = result[start + 1..].strip_suffix('>')?;
    path.starts_with('/').then(|| PathBuf::from(unescape(path)))
}

/// strace's escapes (`\x`, octal and C escapes of unprintable bytes) undone, as far as
/// they are valid UTF-8; an undecodable path is kept escaped.
fn unescape(path: &str) -> String {
    if !path.contains('\\') {
        return path.to_owned();
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1] == b'x'
            && let Some(b) = path.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_the_resolved_paths_of_successful_read_opens() {
        let log = r#"4862  openat(AT_FDCWD</w>, "/usr/share/locale/locale.alias", O_RDONLY|O_CLOEXEC) = 3</etc/locale.alias>
4862  openat(AT_FDCWD</w>, "config.txt", O_RDONLY) = 3</w/src/config.txt>
4861  openat(AT_FDCWD</w>, "/tmp/out", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3</tmp/out>
4861  openat(AT_FDCWD</w>, "/w/src", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3</w/src>
4861  openat(AT_FDCWD</w>, "/w/db", O_RDWR|O_CLOEXEC) = 4</w/db>
4861  --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4862} ---
4862  openat(AT_FDCWD</w>, "config.txt", O_RDONLY) = 5</w/src/config.txt>
4862  openat(AT_FDCWD</w>, "sp\x20ace", O_RDONLY) = 5</w/sp\x20ace>
"#;
        let reads = opened_for_reading(log);
        let reads: Vec<&str> = reads.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(reads, ["/etc/locale.alias", "/w/src/config.txt", "/w/db", "/w/sp ace"]);
    }

    #[test]
    fn a_traced_process_reports_what_it_read() {
        if !available() {
            // CI installs strace; elsewhere a machine without it (or forbidding ptrace)
            // skips this test.
            assert!(std::env::var_os("CI").is_none(), "strace must run in CI");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("read-me.txt");
        std::fs::write(&secret, "x").unwrap();
        let log = dir.path().join("trace.log");
        let mut spec = ProcessSpec {
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!("cat '{}' > /dev/null", secret.display()).into(),
            ],
            cwd: dir.path().to_path_buf(),
            env: Vec::new(),
            stdout_path: dir.path().join("out.log"),
            stderr_path: dir.path().join("err.log"),
            timeout: None,
            grace: std::time::Duration::from_secs(1),
        };
        wrap(&mut spec, &log);
        let status =
            std::process::Command::new(&spec.argv[0]).args(&spec.argv[1..]).status().unwrap();
        assert!(status.success());
        let reads = opened_for_reading(&std::fs::read_to_string(&log).unwrap());
        let secret = std::fs::canonicalize(&secret).unwrap();
        assert!(reads.contains(&secret), "{reads:?}");
    }
}
