#!/usr/bin/env bash
# Installs, upgrades, removes and purges the package for real, with dpkg, in
# a private mount namespace where /etc, /var, /usr, /run and /root are overlays on a
# scratch folder: every change (users, groups, files, dpkg's database) is
# thrown away when it ends. Run by package_test.sh as
#   unshare --mount --propagation private install_in_overlay.sh DEB SCRATCH
set -euo pipefail
deb=$1
scratch=$2
fail() { echo "FAIL: install: $*"; exit 1; }
# shellcheck source=tests/package/overlay_root.sh
. "$(dirname "$0")/overlay_root.sh"
overlay_root

export DEBIAN_FRONTEND=noninteractive
dpkg -i "$deb" >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; fail "dpkg -i"; }
getent passwd settled >/dev/null || fail "no user settled"
[ "$(getent passwd settled | cut -d: -f7)" = /usr/sbin/nologin ] || fail "settled has a login shell"
[ "$(getent passwd settled | cut -d: -f6)" = /var/lib/settled ] || fail "settled's home is not /var/lib/settled"
getent group settled >/dev/null || fail "no group settled"
getent group settle-clients >/dev/null || fail "no group settle-clients"
mode() { stat -c '%U:%G %a' "$1"; }
[ "$(mode /etc/settled)" = "root:settled 750" ] || fail "/etc/settled is $(mode /etc/settled)"
[ "$(mode /etc/settled/pki)" = "root:settled 750" ] || fail "/etc/settled/pki is $(mode /etc/settled/pki)"
[ "$(mode /etc/settled/settled.toml)" = "root:settled 640" ] || fail "settled.toml is $(mode /etc/settled/settled.toml)"
[ "$(mode /etc/settled/policy.toml)" = "root:settled 640" ] || fail "policy.toml is $(mode /etc/settled/policy.toml)"
[ "$(mode /etc/settled/notices.toml)" = "root:settled 640" ] || fail "notices.toml is $(mode /etc/settled/notices.toml)"
[ "$(mode /var/lib/settled)" = "settled:settled 700" ] || fail "/var/lib/settled is $(mode /var/lib/settled)"
[ "$(mode /var/backups/settle)" = "settled:settled 700" ] || fail "/var/backups/settle is $(mode /var/backups/settle)"
[ "$(mode /var/lib/settle-reports)" = "settled:settle-clients 2750" ] || fail "/var/lib/settle-reports is $(mode /var/lib/settle-reports)"
dpkg-query -W -f='${Conffiles}\n' settle | grep -q /etc/settled/settled.toml || fail "dpkg does not know settled.toml as a conffile"
dpkg-query -W -f='${Conffiles}\n' settle | grep -q /etc/settled/notices.toml || fail "dpkg does not know notices.toml as a conffile"
# Nothing enabled: no wants link for the daemon or the timer.
[ ! -e /etc/systemd/system/multi-user.target.wants/settled.service ] || fail "settled.service was enabled"
[ ! -e /etc/systemd/system/timers.target.wants/settle-reconcile.timer ] || fail "the timer was enabled"
[ ! -e /etc/systemd/system/timers.target.wants/settle-backup.timer ] || fail "the backup timer was enabled"
/usr/bin/settled --version | grep -qx "settled .*" || fail "settled --version"
echo "ok: install: user and groups, /etc/settled root:settled 0750, config 0640, /var/lib/settled and /var/backups/settle 0700, nothing enabled"

# A site's edit survives an upgrade (the same version again: configure with the old version).
echo "# the site's edit" >>/etc/settled/settled.toml
dpkg -i --force-confold "$deb" >"$scratch/upgrade.log" 2>&1 || { cat "$scratch/upgrade.log"; fail "dpkg -i (upgrade)"; }
grep -q "the site's edit" /etc/settled/settled.toml || fail "the upgrade lost the site's edit of settled.toml"
[ "$(mode /etc/settled/settled.toml)" = "root:settled 640" ] || fail "after the upgrade settled.toml is $(mode /etc/settled/settled.toml)"
echo "ok: upgrade keeps the site's config"

# A site enables the daemon (the link systemctl enable makes); removing and
# installing again keeps that, and still enables nothing else.
wants=/etc/systemd/system/multi-user.target.wants/settled.service
mkdir -p "$(dirname "$wants")"
ln -s /usr/lib/systemd/system/settled.service "$wants"
touch /var/lib/settled/ledger.db
mkdir /var/backups/settle/20260302-013000
dpkg -r settle >"$scratch/remove.log" 2>&1 || { cat "$scratch/remove.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/settled ] || fail "settled left after remove"
[ -f /etc/settled/settled.toml ] || fail "remove deleted the config (only purge may)"
dpkg -i "$deb" >"$scratch/reinstall.log" 2>&1 || { cat "$scratch/reinstall.log"; fail "dpkg -i (after remove)"; }
[ -L "$wants" ] || fail "the site's enablement of settled.service was lost over remove and install"
[ ! -e /etc/systemd/system/timers.target.wants/settle-reconcile.timer ] || fail "the timer was enabled"
echo "ok: remove and install again keep the site's enablement, and add none"

# Purge: the config and the enablement go, the ledger's folder stays.
dpkg -P settle >"$scratch/purge.log" 2>&1 || { cat "$scratch/purge.log"; fail "dpkg -P"; }
[ ! -e /etc/settled/settled.toml ] || fail "purge left settled.toml"
[ ! -L "$wants" ] || fail "purge left the enablement link"
[ -f /var/lib/settled/ledger.db ] || fail "purge deleted the ledger"
[ -d /var/backups/settle/20260302-013000 ] || fail "purge deleted the backups"
echo "ok: purge (the ledger and its backups kept)"
