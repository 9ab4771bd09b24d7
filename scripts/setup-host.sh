#!/usr/bin/env bash
# Idempotent host set-up for Strata's tests and local cluster (Debian 12, run as root).
# What and why: ../shared/reference/host-setup.md section 3.2. Safe to run again and again:
# each step checks before it acts, and a second run on a ready host takes well under a second.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
  echo "setup-host: not root; skipping system packages and cgroup fixes (root-only tests will skip)" >&2
  exit 0
fi

# Package maintainer scripts must never start daemons: there is no systemd here, and Debian's
# defaults for zookeeper and docker-registry would listen on every address.
if [ ! -x /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
fi

PKGS="crun runc skopeo umoci docker-registry busybox-static containernetworking-plugins \
      iptables iproute2 attr util-linux zookeeper hyperfine tini"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup-host: installing:$missing" >&2
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing >/dev/null
fi

# crun refuses "hybrid" hosts where cgroup2 still owns a controller (here: hugetlb). Give every
# such controller its own v1 hierarchy. Not persistent across reboots, hence done on every run.
# cgroupfs files report size 0, so read the content rather than testing with -s.
v2ctl=$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null || true)
if [ -n "$v2ctl" ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  for c in $v2ctl; do
    if ! mountpoint -q "/sys/fs/cgroup/$c"; then
      mkdir -p "/sys/fs/cgroup/$c"
      mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
    fi
  done
fi
exit 0
