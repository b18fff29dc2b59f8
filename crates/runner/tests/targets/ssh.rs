//! An ssh host: the example pipeline on it, reuse across targets, no connection for a
//! no-op build, a strict host key check, a connection lost mid-step, a large input sent
//! once, a host without Python, a timeout that kills the step's process group, and steps
//! the agent starts itself (exit codes, logs, metrics, a parameter that is shell text).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::services::{Service, digits_into};
use crate::support::Project;

const PORT: &str = "2232";
const USER: &str = "runnertest";

/// The host's workdir for this run of the suite (relative to the login's home): its own,
/// so that no blob or environment of an earlier run is found there.
fn workdir(service: &Service) -> String {
    let run = service.dir.parent().unwrap().file_name().unwrap().to_string_lossy();
    format!("runner-work-{run}")
}

/// `[compute.box]` for the server in `service`, with `known_hosts` as given.
fn target(service: &Service, known_hosts: &Path) -> String {
    format!(
        "[compute.box]\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nport = {PORT}\nuser = \"{USER}\"\n\
         identity_file = \"{}\"\nknown_hosts = \"{}\"\nworkdir = \"~/{}\"\nmax_nodes = 2\n",
        service.dir.join("client_ed25519").display(),
        known_hosts.display(),
        workdir(service)
    )
}

/// Logins the server has accepted so far.
fn logins(service: &Service) -> usize {
    let log = std::fs::read_to_string(service.dir.join("sshd.log")).unwrap_or_default();
    log.lines().filter(|l| l.contains("Accepted publickey")).count()
}

const SMALL: &str = r#"
[pipeline]
name = "small"

[parameters]
wait = 0

[steps.slow]
command = ["sh", "-c", "sleep \"$0\"; echo done > \"$1/done.txt\"", "${params.wait}", "${outputs.o}"]
outputs = ["o"]
compute = "box"
"#;

#[test]
fn steps_run_on_an_ssh_host() {
    let Some(server) = Service::start("ssh", &[PORT, USER], &["sshd", "ssh"]) else { return };
    let known = server.dir.join("known_hosts");

    // The example, every step on the host, its environment made there.
    let digits = Project::new();
    digits_into(digits.root(), &target(&server, &known));
    let first = digits.build(&["--compute", "box"]);
    first.assert_code(0);
    let steps = first.steps();
    assert!(steps.len() >= 4 && steps.values().all(|s| s.status == "ran"), "{steps:?}");
    let report = digits.output("compare", "report", "report.md");
    assert!(report.contains("better model"), "{report}");
    let home = format!("/home/{USER}/{}/envs", workdir(&server));
    assert!(std::fs::read_dir(&home).unwrap().count() > 0, "no environment in {home}");
    let show = digits.run(&["show", &first.run_id().to_string()]);
    assert!(show.stdout.contains("metric evaluate_forest.accuracy = "), "{}", show.stdout);

    // Built again, on the host or here: reused, and no connection is opened.
    let before = logins(&server);
    let again = digits.build(&["--compute", "box"]);
    assert!(again.steps().values().all(|s| s.status == "reused"));
    let local = digits.build(&[]);
    assert!(local.steps().values().all(|s| s.status == "reused"));
    assert_eq!(logins(&server), before);

    unknown_host_key_is_refused(&server);
    a_host_name_of_shell_text_runs_nothing(&server, &known);
    lost_connection_caches_nothing(&server, &known);
    large_input_is_sent_once(&server, &known);
    one_new_input_for_many_jobs_at_once(&server, &known);
    no_python_runs_jobs_one_session_each(&server, &known);
    timeout_kills_the_step_group(&server, &known);
    agent_runs_steps_as_their_script_would(&server, &known);
}

/// A step past its timeout: it fails, and its whole process group on the host is gone, a
/// child it left in the background too.
fn timeout_kills_the_step_group(server: &Service, known: &Path) {
    let pipeline = format!(
        "[steps.slow]\ncommand = [\"sh\", \"-c\", \"sleep 61 & sleep 62; echo late > \\\"$0/x\\\"\", \
         \"${{outputs.o}}\"]\noutputs = [\"o\"]\ntimeout = 1\ncompute = \"box\"\n\n{}",
        target(server, known)
    );
    let p = Project::with(&[("pipeline.toml", &pipeline)]);
    let started = Instant::now();
    let b = p.build(&[]);
    b.assert_code(1);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let reason = b.reason("slow");
    assert!(reason.contains("timed out") || reason.contains("timeout"), "{reason}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while host_runs("sleep 61") || host_runs("sleep 62") {
        assert!(Instant::now() < deadline, "the step's processes outlived its timeout");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!p.path(".runner/outputs/slow.o").exists());
}

/// Six jobs at once, each sent the same 400 new blobs: each unpacks them in its own folder
/// and moves them into the host's `blobs/` by rename, so none pulls a blob from under
/// another's links (tar replacing a file it extracts over did, once, on a loaded CI host:
/// `Cannot hard link to 'blobs/…'`) or copies one still being written. A stress test: the
/// race needs a loaded host, and two runs here without the fix did not hit it.
fn one_new_input_for_many_jobs_at_once(server: &Service, known: &Path) {
    let p = Project::new();
    // Many blobs, so that the jobs' unpacking overlaps blob by blob.
    for i in 0..400 {
        p.write(&format!("shared/f{i:03}.txt"), &format!("{i}\n").repeat(200));
    }
    let mut pipeline = String::from("[data.shared]\npath = \"shared\"\n");
    for i in 0..6 {
        pipeline.push_str(&format!(
            "\n[steps.s{i}]\ncommand = [\"sh\", \"-c\", \"cat \\\"$0\\\"/* | wc -c > \\\"$1/n.txt\\\"\", \
             \"${{inputs.d}}\", \"${{outputs.o}}\"]\ninputs = {{ d = \"data.shared\" }}\n\
             outputs = [\"o\"]\ncompute = \"box\"\n"
        ));
    }
    pipeline.push_str(&target(server, known).replace("max_nodes = 2", "max_nodes = 6"));
    p.write("pipeline.toml", &pipeline);
    let b = p.build(&[]);
    b.assert_code(0);
    let bytes: usize = (0..400).map(|i: usize| (i.to_string().len() + 1) * 200).sum();
    for i in 0..6 {
        assert_eq!(p.output(&format!("s{i}"), "o", "n.txt").trim(), bytes.to_string());
    }
}

/// A host whose key is not in known_hosts: the step fails, naming the host and the key.
fn unknown_host_key_is_refused(server: &Service) {
    let empty = server.dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let p = Project::with(&[("pipeline.toml", &format!("{SMALL}\n{}", target(server, &empty)))]);
    let b = p.build(&[]);
    b.assert_code(1);
    let reason = b.reason("slow");
    assert!(reason.contains("127.0.0.1") && reason.contains("host key"), "{reason}");
}

/// A host name holding shell syntax without whitespace (which the checker lets through:
/// ssh resolves it, or says why not): no shell ever runs it, neither ssh's own connect nor
/// runner's connector, which takes only plain names. The step fails, naming the host.
fn a_host_name_of_shell_text_runs_nothing(server: &Service, known: &Path) {
    let p = Project::new();
    let planted = p.path("PWNED");
    let host = format!("x$(touch${{IFS}}{})", planted.display());
    let target = target(server, known).replace("\"127.0.0.1\"", &format!("'{host}'"));
    p.write("pipeline.toml", &format!("{SMALL}\n{target}"));
    let b = p.build(&[]);
    b.assert_code(1);
    assert!(b.reason("slow").contains(&host), "{}", b.reason("slow"));
    assert!(!planted.exists(), "the host name ran as shell text");
}

/// The server's session dies while the step runs: the step fails saying so, nothing is
/// cached, and the next build runs it again and succeeds.
fn lost_connection_caches_nothing(server: &Service, known: &Path) {
    let p = Project::with(&[("pipeline.toml", &format!("{SMALL}\n{}", target(server, known)))]);
    let root = p.root().display().to_string();
    let child = p
        .cmd()
        .args(["build", &root, "--param", "wait=3", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the step's process on the host, then end the sessions serving it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !host_runs("sleep 3") {
        assert!(Instant::now() < deadline, "the step never started on the host");
        std::thread::sleep(Duration::from_millis(100));
    }
    let listener = std::fs::read_to_string(server.dir.join("sshd.pid")).unwrap();
    let sessions = Command::new("ps").args(["-o", "pid=", "--ppid", listener.trim()]).output();
    let sessions = String::from_utf8(sessions.unwrap().stdout).unwrap();
    for pid in sessions.split_whitespace() {
        let _ = Command::new("kill").arg(pid).status();
    }
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "failed", "{doc}");
    let reason = doc["steps"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("connection") && reason.contains("lost"), "{reason}");
    assert!(!p.path(".runner/outputs/slow.o").exists());

    let next = p.build(&["--param", "wait=3"]);
    next.assert_code(0);
    next.assert_steps(&[("slow", "ran")]);
}

/// Whether a process of the test user's has `needle` in its command line.
fn host_runs(needle: &str) -> bool {
    let out = Command::new("ps").args(["-u", USER, "-o", "args="]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().any(|l| l.contains(needle))
}

/// A 100 MB input goes to the host once: a second job reading it sends its script only.
fn large_input_is_sent_once(server: &Service, known: &Path) {
    let p = Project::new();
    let mut data = Vec::with_capacity(100 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < 100 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(p.path("big.bin"), &data).unwrap();
    let pipeline = format!(
        "[parameters]\nn = 1\n\n[data.big]\npath = \"big.bin\"\n\n\
         [steps.size]\ncommand = [\"sh\", \"-c\", \"wc -c < \\\"$0\\\" > \\\"$1/size.txt\\\"; echo $2 >> \\\"$1/size.txt\\\"\", \"${{inputs.big}}\", \"${{outputs.o}}\", \"${{params.n}}\"]\n\
         inputs = {{ big = \"data.big\" }}\noutputs = [\"o\"]\ncompute = \"box\"\n\n{}",
        target(server, known)
    );
    p.write("pipeline.toml", &pipeline);
    let ssh = Arc::new(ssh_target(server, known, "python3"));
    let sent = |n: &str| -> u64 {
        let before = ssh.bytes_sent();
        build_with(&p, &ssh, n);
        ssh.bytes_sent() - before
    };
    let first = sent("1");
    let second = sent("2");
    eprintln!("100 MB input over ssh: first job sent {first} bytes, second {second}");
    assert!(first > 100 << 20, "{first}");
    assert!(second < 1 << 20, "{second}");
    assert_eq!(p.output("size", "o", "size.txt"), format!("{}\n2\n", 100 << 20));
    assert_eq!(ssh.uses_agent(), Some(true));
}

/// The target `box` of the server in `service`, in this process, with `python` as the
/// host's interpreter.
fn ssh_target(server: &Service, known: &Path, python: &str) -> compute::Ssh {
    compute::Ssh::new(
        "box",
        compute::SshConfig {
            host: "127.0.0.1".to_owned(),
            port: PORT.parse().ok(),
            user: Some(USER.to_owned()),
            identity_file: Some(server.dir.join("client_ed25519")),
            known_hosts: Some(known.to_path_buf()),
            python: python.to_owned(),
            workdir: workdir(server),
            connector: None,
        },
    )
}

/// Builds `p` with parameter `n` in this process, its target `box` being `ssh`; asserts
/// that the build succeeded.
fn build_with(p: &Project, ssh: &Arc<compute::Ssh>, n: &str) {
    let mut project =
        driver::Project::load(p.root(), vec![("n".to_owned(), n.to_owned())]).unwrap();
    project.refresh_fs().unwrap();
    assert!(project.problems().is_empty(), "{:?}", project.problems());
    let opts = engine::BuildOptions {
        supervise: false,
        targets: engine::Targets::default().with("box", ssh.clone()),
        ..engine::BuildOptions::default()
    };
    let rt = engine::runtime().unwrap();
    let cache = engine::open_cache(&project).unwrap();
    let sink = Arc::new(engine::Recorder::default());
    let cancel = exec::CancelToken::new();
    let summary = engine::run_build(&project, &cache, None, &opts, &rt, &cancel, sink).unwrap();
    assert_eq!(summary.status, history::RunStatus::Succeeded);
}

/// A host without the target's `python`: no agent, and each job runs in an ssh session of
/// its own (which needs no Python for a command step), outputs checked as ever.
fn no_python_runs_jobs_one_session_each(server: &Service, known: &Path) {
    let p = Project::new();
    p.write(
        "pipeline.toml",
        &format!(
            "[parameters]\nn = 1\n\n[steps.s]\ncommand = [\"sh\", \"-c\", \"echo $0 > \\\"$1/n.txt\\\"\", \
             \"${{params.n}}\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\ncompute = \"box\"\n\n{}",
            target(server, known)
        ),
    );
    let ssh = Arc::new(ssh_target(server, known, "/nonexistent/python3"));
    build_with(&p, &ssh, "7");
    assert_eq!(ssh.uses_agent(), Some(false));
    assert_eq!(p.output("s", "o", "n.txt"), "7\n");
}

/// Steps with no environment to make, which the agent starts itself: a parameter holding
/// shell syntax arrives as one argument and runs nothing; logs and metrics come back; a
/// step's exit code is its own; a program the host lacks fails with sh's 127. Each runs in
/// the build's one snapshot on the host, which goes when the connection does.
const DIRECT: &str = r#"
[parameters]
text = '$(touch PWNED) `touch P2`; touch P3 "q" ${HOME} \'

[steps.echo]
command = ["sh", "-c", "printf %s \"$0\" > \"$1/got.txt\"; echo said; echo warned >&2; echo 'score 0.5' >> \"$RUNNER_METRICS\"", "${params.text}", "${outputs.o}"]
outputs = ["o"]
compute = "box"

[steps.code]
command = ["sh", "-c", "echo before; pwd >&2; exit 3"]
outputs = ["o"]
compute = "box"

[steps.missing]
command = ["runner-no-such-program", "${params.text}"]
outputs = ["o"]
compute = "box"
"#;

/// See [`DIRECT`].
fn agent_runs_steps_as_their_script_would(server: &Service, known: &Path) {
    let p = Project::with(&[("pipeline.toml", &format!("{DIRECT}\n{}", target(server, known)))]);
    let b = p.build(&[]);
    b.assert_code(1);
    assert_eq!(b.step("echo").status, "ran");
    let hostile = "$(touch PWNED) `touch P2`; touch P3 \"q\" ${HOME} \\";
    assert_eq!(p.output("echo", "o", "got.txt"), hostile);
    let run = p.state().join("runs").join(b.run_id().to_string());
    let log = |step: &str, name: &str| std::fs::read_to_string(run.join(step).join(name));
    assert_eq!(log("echo", "stdout.log").unwrap(), "said\n");
    assert_eq!(log("echo", "stderr.log").unwrap(), "warned\n");
    let show = p.run(&["show", &b.run_id().to_string()]);
    assert!(show.stdout.contains("metric echo.score = 0.5"), "{}", show.stdout);
    b.assert_reason("code", "exited with code 3");
    assert_eq!(log("code", "stdout.log").unwrap(), "before\n");
    // Its folder stays on the host (it failed): the agent ran it, with no script, and
    // recorded its exit code.
    let jobs = std::path::PathBuf::from(format!("/home/{USER}/{}/jobs", workdir(server)));
    let code = std::fs::read_dir(&jobs)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!("{}-code-", b.run_id())))
        .unwrap()
        .path();
    assert!(!code.join("run.sh").exists());
    assert_eq!(std::fs::read_to_string(code.join("rc")).unwrap(), "3\n");
    let cwd = log("code", "stderr.log").unwrap();
    let snaps = jobs.with_file_name("snaps");
    assert!(cwd.starts_with(&format!("{}/", snaps.display())), "{cwd}");
    assert!(!code.join("r0").exists(), "the snapshot is shared, not the job's own");
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::read_dir(&snaps).is_ok_and(|mut d| d.next().is_none())
    });
    assert!(gone, "the agent removes its snapshots when the connection ends");
    b.assert_reason("missing", "exited with code 127");
    let home = format!("/home/{USER}");
    let planted = Command::new("find")
        .args([&home, "-name", "PWNED", "-o", "-name", "P2", "-o", "-name", "P3"])
        .output()
        .unwrap();
    assert!(planted.stdout.is_empty(), "{}", String::from_utf8_lossy(&planted.stdout));
    assert!(!p.path("PWNED").exists());
}
