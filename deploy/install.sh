#!/bin/sh
# Install a Cohort bundle (the directory this script is in) into a root filesystem:
#   ./install.sh --root /mnt/rootfs   image building: nothing is started, nothing of this machine is touched
#   sudo ./install.sh [--start]        onto the running board (root = /)
# What goes where (paths inside the root):
#   /opt/cohort                       the agent, its node_modules and its own Node.js (replaced on upgrade)
#   /etc/cohort/cohort.yaml           the config: an example the first time, never overwritten
#   /var/lib/cohort                   state (votes, incarnations): kept across upgrades
#   /etc/systemd/system/cohort.service, enabled (multi-user.target.wants)
#   /usr/lib/sysusers.d/cohort.conf   the `cohort` system user, made by systemd-sysusers at boot
#   /usr/local/bin/cohort             -> /opt/cohort/bin/cohort
# ./install.sh --uninstall [--root DIR] removes the program, unit and command, and keeps
# /etc/cohort and /var/lib/cohort (the votes) unless --purge.
set -eu

ROOT=/
ENABLE=1
START=0
FORCE=0
UNINSTALL=0
PURGE=0
usage() {
  cat <<'USAGE'
usage: install.sh [--root DIR] [--no-enable] [--start] [--force]
       install.sh --uninstall [--purge] [--root DIR]
  --root DIR    install into the root filesystem at DIR (an image being built, or an empty
                directory); default / (this machine)
  --no-enable   do not enable cohort.service
  --start       (root / only) start the service now; edit /etc/cohort/cohort.yaml first
  --force       install even if this machine's architecture does not match the bundle's
  --uninstall   remove /opt/cohort, the unit and the command; keep config and state
  --purge       with --uninstall: remove /etc/cohort and /var/lib/cohort (the votes) too
USAGE
}
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || { echo "install.sh: --root needs a directory" >&2; exit 2; }; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --no-enable) ENABLE=0; shift ;;
    --start) START=1; shift ;;
    --force) FORCE=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
[ -f "$HERE/opt/cohort/BUNDLE" ] || { echo "install.sh: $HERE is not a Cohort bundle (no opt/cohort/BUNDLE)" >&2; exit 1; }
fact() { sed -n "s/^$1=//p" "$HERE/opt/cohort/BUNDLE"; }
ARCH=$(fact arch)
VERSION=$(fact version)
[ -d "$ROOT" ] || { echo "install.sh: root $ROOT is not a directory" >&2; exit 1; }
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
[ "$ROOT" = / ] && LIVE=1
R=${ROOT%/}   # prefix for paths: "" for /

if [ "$UNINSTALL" = 1 ]; then
  if [ "$LIVE" = 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "install.sh: uninstalling from this machine needs root" >&2; exit 1; }
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now cohort.service 2>/dev/null || true
    fi
  fi
  rm -rf "$R/opt/cohort" "$R/etc/systemd/system/cohort.service" "$R/etc/systemd/system/multi-user.target.wants/cohort.service" "$R/usr/lib/sysusers.d/cohort.conf"
  if [ -L "$R/usr/local/bin/cohort" ]; then rm -f "$R/usr/local/bin/cohort"; fi
  if [ "$LIVE" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload; fi
  if [ "$PURGE" = 1 ]; then
    rm -rf "$R/etc/cohort" "$R/var/lib/cohort"
    echo "uninstalled cohort-agent from $ROOT, config and state removed"
  else
    echo "uninstalled cohort-agent from $ROOT; kept /etc/cohort and /var/lib/cohort (--purge removes them)"
  fi
  exit 0
fi

if [ "$LIVE" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "install.sh: installing onto this machine needs root (or use --root DIR)" >&2; exit 1; }
  machine=$(uname -m)
  case ",$(fact uname_m)," in
    *",$machine,"*) ;;
    *) if [ "$FORCE" = 1 ]; then echo "install.sh: warning: this is a $machine machine, the bundle is for $ARCH" >&2
       else echo "install.sh: this is a $machine machine, the bundle is for $ARCH (--force to install anyway)" >&2; exit 1; fi ;;
  esac
fi

# armv7: the zeromq addon links Debian's shared libzmq (zeromq ships no armv7 build of its own).
if [ "$ARCH" = armv7 ]; then
  found=0
  for d in /usr/lib/arm-linux-gnueabihf /lib/arm-linux-gnueabihf /usr/lib /lib; do
    [ -e "$R$d/libzmq.so.5" ] && found=1
  done
  if [ "$found" = 0 ]; then
    if [ "$LIVE" = 1 ]; then echo "install.sh: libzmq5 is missing: apt-get install libzmq5 (the armv7 agent links it)" >&2; exit 1
    else echo "install.sh: note: $ROOT has no libzmq.so.5 yet; the image needs Debian's libzmq5 (armhf)" >&2; fi
  fi
fi

# The program: copied next to the old one, then swapped in, so an interrupted install leaves a working tree.
mkdir -p "$R/opt"
new="$R/opt/.cohort.new.$$"
old="$R/opt/.cohort.old.$$"
rm -rf "$new"
cp -a "$HERE/opt/cohort" "$new"
chown -R 0:0 "$new" 2>/dev/null || true
if [ -e "$R/opt/cohort" ]; then mv "$R/opt/cohort" "$old"; fi
mv "$new" "$R/opt/cohort"
rm -rf "$old"

# Config: an example beside it always, the file itself only the first time.
mkdir -p "$R/etc/cohort"
cp "$HERE/etc/cohort/cohort.yaml" "$R/etc/cohort/cohort.yaml.example"
if [ ! -e "$R/etc/cohort/cohort.yaml" ]; then
  cp "$HERE/etc/cohort/cohort.yaml" "$R/etc/cohort/cohort.yaml"
  config_note="installed the example /etc/cohort/cohort.yaml: set node, advertise, groups"
else
  config_note="kept /etc/cohort/cohort.yaml (the new example is cohort.yaml.example)"
fi
chmod 0644 "$R/etc/cohort/cohort.yaml" "$R/etc/cohort/cohort.yaml.example"

# State: systemd's StateDirectory= owns and chowns it at start; made here so images carry it.
mkdir -p "$R/var/lib/cohort"
chmod 0700 "$R/var/lib/cohort"

mkdir -p "$R/usr/lib/sysusers.d" "$R/etc/systemd/system" "$R/usr/local/bin"
cp "$HERE/usr/lib/sysusers.d/cohort.conf" "$R/usr/lib/sysusers.d/cohort.conf"
cp "$HERE/etc/systemd/system/cohort.service" "$R/etc/systemd/system/cohort.service"
chmod 0644 "$R/usr/lib/sysusers.d/cohort.conf" "$R/etc/systemd/system/cohort.service"
ln -sfn /opt/cohort/bin/cohort "$R/usr/local/bin/cohort"

if [ "$LIVE" = 1 ]; then
  if ! id cohort >/dev/null 2>&1; then
    if command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers /usr/lib/sysusers.d/cohort.conf
    else useradd --system --home-dir /var/lib/cohort --no-create-home --shell /usr/sbin/nologin cohort; fi
  fi
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    if [ "$ENABLE" = 1 ]; then systemctl enable cohort.service; fi
    if [ "$START" = 1 ]; then systemctl restart cohort.service; fi
  else
    echo "install.sh: systemd is not running here: start the agent with 'cohort agent --config /etc/cohort/cohort.yaml'" >&2
  fi
else
  # What `systemctl --root DIR enable` does, without needing systemctl on the build machine.
  if [ "$ENABLE" = 1 ]; then
    mkdir -p "$R/etc/systemd/system/multi-user.target.wants"
    ln -sfn /etc/systemd/system/cohort.service "$R/etc/systemd/system/multi-user.target.wants/cohort.service"
  fi
  if [ "$START" = 1 ]; then echo "install.sh: --start ignored with --root" >&2; fi
fi

enabled=""
if [ "$ENABLE" = 1 ]; then enabled=" (enabled)"; fi
echo "installed cohort-agent $VERSION ($ARCH) into $ROOT: /opt/cohort, /usr/local/bin/cohort, cohort.service$enabled; $config_note"
