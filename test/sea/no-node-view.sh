#!/usr/bin/env bash
# Runs STEPS in a view of this host where no node exists: started by the test under `unshare -m`,
# it hides every path given (directories under an empty read-only tmpfs, files under /dev/null),
# gives the user a fresh empty home (the executable unpacks into ~/.cache), and runs STEPS from an
# empty working directory with nothing in the environment but a system PATH.
#
# Usage: unshare -m --propagation private bash no-node-view.sh STEPS OUT BIN -- PATH...
set -euo pipefail
steps=$1 out=$2 bin=$3
shift 4
for p in "$@"; do
  if [ -d "$p" ]; then
    mount -t tmpfs -o ro,size=64k,mode=0755 tmpfs "$p"
  elif [ -e "$p" ]; then
    mount --bind /dev/null "$p"
  fi
done
home=$(getent passwd "$(id -u)" | cut -d: -f6)
mount -t tmpfs -o mode=0700 tmpfs "$home"
empty=$(mktemp -d)
cd "$empty"
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash "$steps" "$out" "$bin"
