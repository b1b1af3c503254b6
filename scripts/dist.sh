#!/usr/bin/env bash
# make dist: the release tarball dist/pycni-<version>-linux-<arch>.tar.gz.
#
# It holds a PyInstaller --onedir bundle (packaging/pycni.spec; never --onefile,
# which unpacks itself into /tmp on every exec) in a versioned directory, and
# one relative symlink per program name, all to the bundle's executable:
#     pycni-<version>/pycni  pycni-<version>/_internal/...  pycni-<version>/PYCNI_BUNDLE
#     pycni-<version>/shim/pycni-shim (daemon mode's native shim, built here) and its source
#     bridge  host-local  loopback  pycni   -> pycni-<version>/pycni
# so that `tar -xzf pycni-*.tar.gz -C /opt/cni/bin` installs everything and
# /opt/cni/bin/pycni is the operator CLI. An upgrade unpacks the new version
# beside the old one; `pycni-<new>/pycni install` then swaps the links
# atomically. Checksums (.sha256, .sha512) sit beside the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PLUGINS="bridge host-local loopback"
NAMES="$PLUGINS pycni"  # every name the bundle answers to

version=$("$VENV/bin/python" -I -c 'import cni; print(cni.__version__)')
case $(uname -m) in  # Go's names, as the reference plugins' tarballs use them
  x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;;
esac
tarball=dist/pycni-$version-linux-$arch.tar.gz
stage=build/stage

rm -rf build/pyinstaller "$stage" dist/bundle
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist/bundle --workpath build/pyinstaller packaging/pycni.spec

bundle=pycni-$version
mkdir -p "$stage"
cp -a dist/bundle/pycni "$stage/$bundle"
echo "$version" > "$stage/$bundle/PYCNI_BUNDLE"  # how `pycni install` knows the bundle is ours
# The native shim, prebuilt for `pycni install --mode daemon` (which compiles the source
# shipped beside it only where no prebuilt copy is found): plain C, libc only.
mkdir -p "$stage/$bundle/shim"
cp cni/shim/pycni-shim.c "$stage/$bundle/shim/"
${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Werror -static -o "$stage/$bundle/shim/pycni-shim" \
  cni/shim/pycni-shim.c  # static: no dynamic loader at each exec (~0.3 ms), runs on any libc
for name in $NAMES; do ln -s "$bundle/pycni" "$stage/$name"; done

# Smoke test before packing: every plugin name answers VERSION, the CLI its version.
# (Output is captured first: `cmd | grep -q` fails under pipefail when grep exits early.)
for plugin in $PLUGINS; do
  answer=$(CNI_COMMAND=VERSION "$stage/$plugin" </dev/null)
  [[ $answer == *'"1.1.0"'* ]] || { echo "dist: $plugin does not answer VERSION" >&2; exit 1; }
done
answer=$("$stage/pycni" version)
[[ $answer == *"pycni $version (frozen bundle)"* ]] \
  || { echo "dist: the pycni CLI does not run from the bundle" >&2; exit 1; }

# Entries are listed (not "."), so unpacking never touches the modes of /opt/cni/bin.
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
  -czf "$tarball" "$bundle" $NAMES
(cd dist && sha256sum "$(basename "$tarball")" > "$(basename "$tarball").sha256" \
         && sha512sum "$(basename "$tarball")" > "$(basename "$tarball").sha512")
rm -rf dist/bundle "$stage"
echo "$tarball"
