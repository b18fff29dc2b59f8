#!/usr/bin/env bash
# An OpenSSH server on 127.0.0.1:PORT for the tests, with a throw-away host key, a client
# key, and a known_hosts file that holds the host key (the client checks it strictly).
# Started and stopped by PID. Needs root and Debian's openssh-server.
#   ssh.sh start DIR [PORT] [USER]   DIR/client_ed25519 logs in as USER (created if missing)
#   ssh.sh stop DIR                  removes USER again if start created it
# From ../shared/backends/ssh.sh: /run/sshd must exist (systemd makes it elsewhere); a new
# account is locked ('!'), which sshd refuses even for keys unless UsePAM is off or the
# password field is '*'.
set -euo pipefail
cmd=$1; W=$(realpath -m "$2"); PORT=${3:-2222}; TUSER=${4:-runnertest}

start() {
  rm -rf "$W"; mkdir -p "$W"; chmod 755 "$W"
  ssh-keygen -q -t ed25519 -N '' -f "$W/host_ed25519"
  ssh-keygen -q -t ed25519 -N '' -f "$W/client_ed25519"
  cp "$W/client_ed25519.pub" "$W/authorized_keys"; chmod 644 "$W/authorized_keys"
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$W/host_ed25519.pub")" > "$W/known_hosts"
  if ! id "$TUSER" >/dev/null 2>&1; then
    useradd -m -s /bin/sh "$TUSER"; echo "$TUSER" > "$W/created-user"
  fi
  usermod -p '*' "$TUSER"
  cat >"$W/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/host_ed25519
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxSessions 100
MaxStartups 100:30:200
CONF
  mkdir -p /run/sshd
  /usr/sbin/sshd -t -f "$W/sshd_config"
  /usr/sbin/sshd -f "$W/sshd_config" -E "$W/sshd.log"
  for _ in $(seq 1 100); do
    ssh -i "$W/client_ed25519" -p "$PORT" -o BatchMode=yes -o UserKnownHostsFile="$W/known_hosts" \
      -o StrictHostKeyChecking=yes "$TUSER@127.0.0.1" true 2>/dev/null && return 0
    sleep 0.1
  done
  tail -5 "$W/sshd.log" >&2; exit 1
}

stop() {
  local f=$W/sshd.pid p
  [ -s "$f" ] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
  # A user this script created goes with its home (and what the tests left there).
  if [ -s "$W/created-user" ]; then userdel -r "$(cat "$W/created-user")" 2>/dev/null || true; fi
}

"$cmd"
