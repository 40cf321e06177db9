#!/bin/sh
# pytest-asyncplay host entrypoint: host key made once per container (kept across restarts),
# the session's public key installed for "ansible" and root, then sshd in the foreground.
set -eu
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
for user in ansible root; do
  home=$(getent passwd "$user" | cut -d: -f6)
  mkdir -p "$home/.ssh"
  printf '%s\n' "${ASYNCPLAY_AUTHORIZED_KEY:?the public key must be passed in ASYNCPLAY_AUTHORIZED_KEY}" \
    > "$home/.ssh/authorized_keys"
  chmod 0700 "$home/.ssh"; chmod 0600 "$home/.ssh/authorized_keys"
  chown -R "$user:" "$home/.ssh"
done
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
