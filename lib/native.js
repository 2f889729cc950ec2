'use strict'

// The native binding, loaded once. When it cannot be found, the error says which platform package was
// expected and how to get it, instead of the generated loader's advice about an npm bug.

const fs = require('node:fs')
const path = require('node:path')

/** The platform package this machine needs: `session-write-lock-<platform>-<arch>[-<abi>]`. */
function platformPackage() {
  const { platform, arch } = process
  if (platform === 'win32') return `session-write-lock-win32-${arch}-msvc`
  if (platform !== 'linux') return `session-write-lock-${platform}-${arch}`
  const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime
  return `session-write-lock-linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

function load() {
  try {
    return require('../binding')
  } catch (cause) {
    const expected = platformPackage()
    const checkout = fs.existsSync(path.join(__dirname, '..', 'Cargo.toml'))
    const how = checkout
      ? 'This is a checkout: build the binary with `npm run build` (needs Rust), or make installable tarballs with `npm run pack:local`.'
      : `Install it beside this package (\`npm install ${expected}\`); before the package is published, run \`npm run pack:local\` in a checkout and install both tarballs it prints.`
    const err = new Error(
      `session-write-lock: no native binary for ${process.platform}-${process.arch}. It comes in the package ${expected}, which is not installed or does not load. ${how}`,
      { cause },
    )
    err.code = 'SESSION_WRITE_LOCK_NO_BINARY'
    err.expectedPackage = expected
    throw err
  }
}

module.exports = load()

// What this process is, for every payload of ours: the machine, and the program (the script's name).
module.exports.describeProcess(require('node:os').hostname(), path.basename(process.argv[1] ?? process.argv0 ?? 'node'))
