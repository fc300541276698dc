#!/usr/bin/env bash
# The Debian package as cpack makes it from this (already built) tree, in a
# temporary folder: its name, file list and modes, control fields, maintainer
# scripts and conffiles; then the tree unpacked (dpkg-deb -x) is run and its
# units verified. Usage: package_test.sh BUILD_DIR VERSION
set -euo pipefail
build=$1
version=$2
for tool in cpack dpkg-deb dpkg; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
tmp=$(mktemp -d /tmp/settle-package-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# -- the package
if ! cpack --config "$build/CPackConfig.cmake" -B "$tmp/out" -G DEB >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"
  fail "cpack could not make the package"
fi
arch=$(dpkg --print-architecture)
deb="$tmp/out/settle_${version}_${arch}.deb"
[ -f "$deb" ] || { ls "$tmp/out"; fail "no $deb (expected settle_<version>_<arch>.deb)"; }
echo "ok: $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# -- control fields
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = settle ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
# shlibdeps: the libraries the programs link, with versions; passwd for useradd.
for lib in libc6 libssl3 libsqlite3-0 libpcsclite1 libsystemd0 libstdc++6 passwd; do
  printf '%s\n' "$depends" | tr , '\n' | sed 's/^ *//; s/ .*//' | grep -qxF "$lib" || fail "Depends lacks $lib: $depends"
done
printf '%s\n' "$(field Recommends)" | grep -q pcscd || fail "Recommends lacks pcscd"
echo "ok: control: Depends: $depends"

# -- files and modes (dpkg-deb -c: mode owner size date time path)
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$tmp/contents"
expect() {  # MODE PATH
  grep -qxF -- "$1 root/root ./${2#/}" "$tmp/contents" || { grep -F "${2#/}" "$tmp/contents" || true; fail "not in the package as $1 root/root: $2"; }
}
for p in settled settlectl reconcile drill insurer-sim settle-console; do expect -rwxr-xr-x "/usr/bin/$p"; done
! grep -q '/bench$' "$tmp/contents" || fail "bench (a development tool) is in the package"
for u in settled.service settle-reconcile.service settle-reconcile.timer settle-backup.service settle-backup.timer settle-console.service; do expect -rw-r--r-- "/usr/lib/systemd/system/$u"; done
expect -rw-r--r-- /usr/share/man/man8/settled.8.gz
expect -rw-r--r-- /usr/share/man/man8/settle-console.8.gz
for f in index.html app.js app.css vendor/uPlot.iife.min.js; do expect -rw-r--r-- "/usr/share/settle/console/$f"; done
for p in settlectl reconcile drill insurer-sim; do expect -rw-r--r-- "/usr/share/man/man1/$p.1.gz"; done
for d in README.md operations.md reconciliation.md encryption.md examples/settled.toml examples/policy.toml; do
  expect -rw-r--r-- "/usr/share/doc/settled/$d"
done
expect -rw-r----- /etc/settled/settled.toml
expect -rw-r----- /etc/settled/policy.toml
! grep -q '/usr/local' "$tmp/contents" || fail "something under /usr/local"
echo "ok: $(wc -l <"$tmp/contents") entries; programs, units, man pages, docs, the config"

# -- maintainer scripts and conffiles
dpkg-deb -e "$deb" "$tmp/DEBIAN"
for s in postinst prerm postrm; do
  [ -f "$tmp/DEBIAN/$s" ] || fail "no $s"
  [ "$(stat -c %a "$tmp/DEBIAN/$s")" = 755 ] || fail "$s is not 0755"
  head -1 "$tmp/DEBIAN/$s" | grep -qx '#!/bin/sh' || fail "$s does not start with #!/bin/sh"
  sh -n "$tmp/DEBIAN/$s" || fail "$s: sh -n"
  if command -v shellcheck >/dev/null 2>&1; then shellcheck -s sh "$tmp/DEBIAN/$s" || fail "$s: shellcheck"; fi
done
grep -qx /etc/settled/settled.toml "$tmp/DEBIAN/conffiles" || fail "settled.toml is not a conffile"
grep -qx /etc/settled/policy.toml "$tmp/DEBIAN/conffiles" || fail "policy.toml is not a conffile"
# The package starts and enables nothing by itself.
! grep -v '^[[:space:]]*#' "$tmp/DEBIAN/postinst" | grep -Eq 'systemctl[^|;]* (enable|start)|deb-systemd-invoke (start|restart)' \
  || fail "postinst enables or starts a unit"
grep -q 'was-enabled' "$tmp/DEBIAN/postinst" || fail "postinst does not keep a site's earlier enablement"
# shellcheck disable=SC2016 # the literal text of the script
for want in 'groupadd --system settled' 'groupadd --system settle-clients' 'useradd --system' \
            'install -d -o settled -g settled -m 0700 "$state_dir"' 'chmod 0640'; do
  grep -qF -- "$want" "$tmp/DEBIAN/postinst" || fail "postinst lacks: $want"
done
echo "ok: maintainer scripts (sh -n$(command -v shellcheck >/dev/null && echo ", shellcheck")), conffiles"

# -- the unpacked tree
dpkg-deb -x "$deb" "$tmp/root"
for p in settled settlectl reconcile drill insurer-sim settle-console; do
  v=$("$tmp/root/usr/bin/$p" --version)
  [ "$v" = "$p $version" ] || fail "$p --version said: $v"
done
zcat "$tmp/root/usr/share/man/man8/settled.8.gz" | grep -q 'settlement daemon' || fail "settled(8) lacks its NAME line"
zcat "$tmp/root/usr/share/man/man8/settled.8.gz" | grep -q 'check\\-config' || fail "settled(8) lacks --check-config"
zcat "$tmp/root/usr/share/man/man1/settlectl.1.gz" | grep -q '^\.SH' || fail "settlectl(1) has no sections"
unitdir="$tmp/root/usr/lib/systemd/system"
grep -q '^ExecStart=/usr/bin/settled ' "$unitdir/settled.service" || fail "settled.service does not run /usr/bin/settled"
grep -q '^Type=notify' "$unitdir/settled.service" || fail "settled.service is not Type=notify"
! grep -q 'Requires=settled' "$unitdir/settle-reconcile.service" || fail "reconcile would start the daemon"
! grep -Rq '/usr/local' "$unitdir" || fail "a unit names /usr/local"
! grep -Rq 'SupplementaryGroups=scard' "$unitdir" || fail "a unit names the group scard"
# The example config checked by the packaged daemon: the only complaints are
# the site's own files that the package cannot ship (certificates, secrets).
set +e
"$tmp/root/usr/bin/settled" --config "$tmp/root/etc/settled/settled.toml" --check-config >"$tmp/check.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat "$tmp/check.out"; fail "the example config's check gave $rc"; }
grep -q 'insurer.secret_file' "$tmp/check.out" || { cat "$tmp/check.out"; fail "the check did not name the missing secret"; }
if command -v systemd-analyze >/dev/null 2>&1; then
  # The units as installed, pointed at the unpacked programs (verify checks
  # that every command exists and is executable).
  mkdir "$tmp/units"
  for u in settled.service settle-reconcile.service settle-reconcile.timer settle-backup.service settle-backup.timer; do
    sed -E "s#/usr/bin/(settled|settlectl|reconcile)([ ;']|\$)#$tmp/root/usr/bin/\1\2#g" "$unitdir/$u" >"$tmp/units/$u"
  done
  if ! systemd-analyze verify --man=no "$tmp/units/settled.service" "$tmp/units/settle-reconcile.service" \
       "$tmp/units/settle-reconcile.timer" "$tmp/units/settle-backup.service" "$tmp/units/settle-backup.timer" \
       >"$tmp/verify.log" 2>&1; then
    cat "$tmp/verify.log"
    fail "systemd-analyze verify"
  fi
  echo "ok: systemd-analyze verify of the units (commands from the unpacked tree)"
fi
echo "ok: the unpacked tree runs: every program's --version, man pages, units"

# -- a real dpkg install, upgrade, remove and purge, thrown away afterwards
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1; then
  echo "note: not root or no unshare: the install into a throwaway overlay was not tried"
  exit 0
fi
if ! unshare --mount --propagation private true 2>/dev/null; then
  echo "note: no private mount namespace here: the install into a throwaway overlay was not tried"
  exit 0
fi
unshare --mount --propagation private "$(dirname "$0")/install_in_overlay.sh" "$deb" "$tmp/overlay" \
  || fail "the install into a throwaway overlay"
