# shellcheck shell=bash
# Sourced by the scripts that install the package for real in a private mount
# namespace: /etc, /var, /usr, /run and /root become overlays on a scratch
# folder, so every change (users, files, dpkg's database) is thrown away.
# Needs: $scratch (the folder) and root in a namespace made by unshare --mount.
overlay_root() {
  local d
  : "${scratch:?the scratch folder}"
  for d in etc var usr run root; do
    mkdir -p "$scratch/$d.up" "$scratch/$d.work"
    mount -t overlay overlay -o "lowerdir=/$d,upperdir=$scratch/$d.up,workdir=$scratch/$d.work" "/$d"
  done
  # No systemd runs in this namespace: the maintainer scripts must cope (they
  # only record enablement state then).
  rm -rf /run/systemd/system
  # Nor a man-db index rebuild (its trigger takes a minute; the host's is not touched).
  rm -f /var/lib/man-db/auto-update
}
