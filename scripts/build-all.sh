#!/usr/bin/env bash
# `npm run build:all`: every prebuilt binary this machine can produce, into npm/<platform>/.
#   - linux-x64-gnu natively; linux-x64-musl, linux-arm64-gnu and linux-arm64-musl with cargo-zigbuild,
#     whose zig comes from the `ziglang` package on PyPI (both installed here when missing);
#   - `cargo check` for macOS and Windows, library and unit tests, so that platform-specific code always
#     compiles (their binaries come from the release workflow's native runners);
#   - each Linux binary is checked for the libc it links: musl builds must not need glibc.
set -euo pipefail
cd "$(dirname "$0")/.."

linux_targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl)
# The MSVC build needs Microsoft's CRT and SDK, which no registry this machine reaches carries; its
# code is checked here, and run for real by `npm run test:windows` (a MinGW build under Wine).
check_targets=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc)

rustup target add "${linux_targets[@]}" "${check_targets[@]}"
python3 -m ziglang version >/dev/null 2>&1 || python3 -m pip install --quiet ziglang
command -v cargo-zigbuild >/dev/null || cargo install cargo-zigbuild --locked

platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64-gnu ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-gnu) echo linux-arm64-gnu ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
  esac
}

build() {
  local target=$1 platform
  platform=$(platform_of "$target")
  if [ "$target" = x86_64-unknown-linux-gnu ]; then
    npx napi build --platform --release --target "$target" --no-js --dts target/cross.d.ts
  else
    npx napi build --platform --release -x --target "$target" --no-js --dts target/cross.d.ts
  fi
  cp "session-write-lock.${platform}.node" "npm/${platform}/"
  [ "$target" = x86_64-unknown-linux-gnu ] || rm "session-write-lock.${platform}.node"
}

# What a binary needs from the C library: the NEEDED entries of its dynamic section.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' '; }

for target in x86_64-unknown-linux-gnu "${linux_targets[@]}"; do
  echo "== build ${target}"
  build "$target"
  file="npm/$(platform_of "$target")/session-write-lock.$(platform_of "$target").node"
  deps=$(needed "$file")
  echo "   ${file}: needs ${deps:-nothing}"
  case "$target" in
    *-musl)
      if grep -q -e 'libc\.so\.6' -e 'ld-linux' <<<"$deps"; then echo "   FAIL: a musl build needs glibc"; exit 1; fi ;;
    *-gnu)
      grep -q 'libc\.so\.6' <<<"$deps" || { echo "   FAIL: a gnu build does not link glibc"; exit 1; } ;;
  esac
done

for target in "${check_targets[@]}"; do
  echo "== cargo check ${target}"
  cargo check --release --locked --target "$target"
  # The unit tests too: platform-specific test code must compile as well.
  cargo check --tests --locked --no-default-features --target "$target"
done
echo "build:all: every Linux binary built and checked; macOS and Windows checked"

