//! The TCP connection to an ssh host, opened by runner's own binary instead of by `ssh`,
//! with `TCP_NODELAY` set.
//!
//! OpenSSH turns Nagle's algorithm off only for sessions with a terminal (ssh(1),
//! `packet_set_interactive`); a build's sessions have none. During key exchange and login
//! the client sends two small packets back to back several times, and the second waits
//! for the host's delayed ACK of the first (up to 40 ms on Linux) each time. So runner asks
//! ssh to take a connection it opened itself: `ProxyCommand` runs `BINARY __ssh-connect
//! HOST PORT` ([`CONNECT_ARG`], served by [`serve`]), which connects with `TCP_NODELAY`
//! and hands the socket to ssh over its stdout (`ProxyUseFdpass=yes`: one byte with the
//! descriptor as `SCM_RIGHTS`, as ssh's `mm_receive_fd` expects), then exits. ssh then
//! speaks to the host over that socket exactly as over its own: the host key is checked
//! the same way, against the same name.
//!
//! That replaces ssh's own connecting, so runner does it only when the user's ssh
//! configuration for the host asks for nothing that only ssh would do there (`ssh -G`
//! prints the configuration as ssh resolved it): no `ProxyCommand` or `ProxyJump` of the
//! user's, no `BindAddress` or `BindInterface`, `AddressFamily any`; and only for a host
//! name and port made of letters, digits, `.`, `-`, `_` and `:`, since the command runs
//! through the user's shell: they are written into it quoted, never as ssh's `%h` (which
//! older OpenSSH passed on unchecked, CVE-2023-51385). Otherwise ssh connects as it always
//! does. Sources: ssh(1), ssh_config(5) (`ProxyCommand`, `ProxyUseFdpass`) of OpenSSH 9.2,
//! tcp(7).

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::net::{TcpStream, ToSocketAddrs as _};
use std::os::fd::{AsFd as _, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

use crate::job::quote;

/// The hidden first argument of `BINARY __ssh-connect HOST PORT`.
pub const CONNECT_ARG: &str = "__ssh-connect";

/// How long connecting may take, as the `ConnectTimeout` runner gives ssh.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// `BINARY __ssh-connect HOST PORT`, run by ssh as its `ProxyCommand`: connects to `host`
/// (a name or an address; each address it resolves to is tried in turn) on `port` with
/// `TCP_NODELAY`, and passes the socket to ssh over stdout, which ssh made one end of a
/// Unix socket pair. `args` are those after [`CONNECT_ARG`].
///
/// Errors: the line to print on stderr (the one place ssh shows a proxy's words) before
/// exiting with 255, what ssh itself exits with when it cannot connect.
pub fn serve(args: &[String]) -> Result<(), String> {
    let [host, port] = args else {
        return Err(format!("runner {CONNECT_ARG}: expected HOST PORT"));
    };
    connect(host, port)
        .and_then(|s| pass(&s, std::io::stdout().as_fd()))
        .map_err(|e| format!("ssh: connect to host {host} port {port}: {e}"))
}

/// A connection to `host` on `port`, with `TCP_NODELAY` set: the first of its addresses
/// that accepts within [`CONNECT_TIMEOUT`].
fn connect(host: &str, port: &str) -> std::io::Result<TcpStream> {
    let port: u16 =
        port.parse().map_err(|_| std::io::Error::other(format!("bad port `{port}`")))?;
    let mut last = std::io::Error::other("the name resolves to no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Sends `socket` over the Unix socket `to`: one byte, the descriptor as `SCM_RIGHTS`.
fn pass(socket: &TcpStream, to: BorrowedFd<'_>) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [socket.as_fd()];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptor"));
    }
    let sent = sendmsg(to, &[IoSlice::new(&[0])], &mut control, SendFlags::empty())?;
    if sent != 1 {
        return Err(std::io::Error::other("the descriptor was not sent"));
    }
    Ok(())
}

/// The host name and port for the connector to connect to, from ssh's resolved
/// configuration (`ssh -G` output, `key value` lines with lower-case keys); `None` when
/// something in it only ssh's own connect would honour, or the name or port is not plainly
/// one.
pub(super) fn plain_connect(resolved: &str) -> Option<(String, String)> {
    let (mut host, mut port, mut family_any) = (None, None, false);
    for line in resolved.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "proxycommand" | "proxyjump" | "bindaddress" | "bindinterface" if value != "none" => {
                return None;
            }
            "addressfamily" => family_any = value == "any",
            "hostname" => host = Some(value),
            "port" => port = Some(value),
            _ => {}
        }
    }
    let plain_name = |h: &&str| {
        !h.is_empty()
            && !h.starts_with('-')
            && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
    };
    let host = host.filter(plain_name)?;
    let port = port.filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))?;
    family_any.then(|| (host.to_owned(), port.to_owned()))
}

/// The `ProxyCommand` value that runs `program` as the connector to `host` on `port`: each
/// quoted for the user's shell (ssh runs the command with `exec` through it), `%` doubled
/// (ssh expands `%` tokens in it).
pub(super) fn proxy_command(program: &Path, host: &str, port: &str) -> String {
    let word = |s: &str| quote(s).replace('%', "%%");
    format!("{} {CONNECT_ARG} {} {}", word(&program.to_string_lossy()), word(host), word(port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_socket_arrives_connected_and_without_nagle() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        let (ours, theirs) = UnixStream::pair().unwrap();
        let socket = connect("127.0.0.1", &port).unwrap();
        pass(&socket, ours.as_fd()).unwrap();
        drop(socket);

        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let mut byte = [9u8];
        let got = rustix::net::recvmsg(
            &theirs,
            &mut [std::io::IoSliceMut::new(&mut byte)],
            &mut control,
            rustix::net::RecvFlags::empty(),
        )
        .unwrap();
        assert_eq!((got.bytes, byte), (1, [0]));
        let fd = control
            .drain()
            .find_map(|m| match m {
                rustix::net::RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
                _ => None,
            })
            .expect("a descriptor");
        let stream = TcpStream::from(fd);
        assert!(stream.nodelay().unwrap());
        let (mut accepted, _) = listener.accept().unwrap();
        use std::io::{Read as _, Write as _};
        (&stream).write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    }

    #[test]
    fn a_refused_connection_is_an_error_not_a_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        drop(listener);
        assert!(connect("127.0.0.1", &port).is_err());
        assert!(connect("127.0.0.1", "not-a-port").is_err());
    }

    #[test]
    fn only_a_plain_configuration_is_connected_by_runner() {
        let base = "hostname gpu-1.lab\nport 2222\naddressfamily any\nproxyusefdpass no\n";
        let to = Some(("gpu-1.lab".to_owned(), "2222".to_owned()));
        assert_eq!(plain_connect(base), to);
        assert_eq!(plain_connect(&format!("{base}proxyjump none\n")), to);
        assert_eq!(plain_connect(&base.replace("gpu-1.lab", "::1")).unwrap().0, "::1");
        assert_eq!(plain_connect(&format!("{base}proxyjump bastion\n")), None);
        assert_eq!(plain_connect(&format!("{base}proxycommand nc %h %p\n")), None);
        assert_eq!(plain_connect(&format!("{base}bindaddress 10.0.0.1\n")), None);
        assert_eq!(plain_connect(&base.replace("any", "inet6")), None);
        assert_eq!(plain_connect(""), None, "no configuration printed: ssh connects itself");
        // A name that is shell text never reaches the shell that runs the command.
        for host in ["$(touch PWNED)", "a;b", "`id`", "-oProxyCommand=x", "h%p", ""] {
            let resolved = base.replace("gpu-1.lab", host);
            assert_eq!(plain_connect(&resolved), None, "{host}");
        }
        assert_eq!(plain_connect(&base.replace("2222", "22;id")), None);
    }

    #[test]
    fn the_proxy_command_quotes_every_word_and_escapes_percent() {
        let cmd = proxy_command(Path::new("/opt/my tools/100%/runner"), "h.lab", "22");
        assert_eq!(cmd, "'/opt/my tools/100%%/runner' __ssh-connect 'h.lab' '22'");
    }
}
