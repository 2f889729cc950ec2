#!/usr/bin/env node
'use strict'

// `npm run pack:local`: the two tarballs a user installs before the package is on the npm registry: the
// package itself, and this platform's binary package with the binary in it (as the release workflow
// assembles it). Builds the release binary first when there is none. Prints the install command.
//
//   node scripts/pack-local.js [--out DIR] [--json]

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run(args, cwd) {
  return execFileSync(npm, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    shell: process.platform === 'win32',
  })
}

/** The built binary at the root (`session-write-lock.<platform>.node`), building it when missing. */
function binary() {
  const find = () => fs.readdirSync(ROOT).find((f) => /^session-write-lock\..+\.node$/.test(f))
  if (!find()) run(['run', 'build'], ROOT)
  const found = find()
  if (!found) throw new Error('npm run build produced no binary')
  return found
}

/** Packs both tarballs into `out`; returns their paths. */
function packLocal(out) {
  fs.mkdirSync(out, { recursive: true })
  const node = binary()
  const platform = node.split('.')[1]
  const root = JSON.parse(run(['pack', '--ignore-scripts', '--json', '--pack-destination', out], ROOT))[0]
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-pack-'))
  try {
    fs.cpSync(path.join(ROOT, 'npm', platform), stage, { recursive: true })
    fs.copyFileSync(path.join(ROOT, node), path.join(stage, node))
    const native = JSON.parse(run(['pack', '--ignore-scripts', '--json', '--pack-destination', out], stage))[0]
    return { package: path.join(out, root.filename), binary: path.join(out, native.filename), platform }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

if (require.main === module) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--out')
  const out = path.resolve(at >= 0 ? args[at + 1] : path.join(ROOT, 'target', 'pack'))
  const packs = packLocal(out)
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(packs)}\n`)
  } else {
    process.stdout.write(
      `packed ${path.basename(packs.package)} and ${path.basename(packs.binary)} into ${out}\n` +
        `install both, in your project:\n\n  npm install ${packs.binary} ${packs.package}\n`,
    )
  }
}

module.exports = { packLocal }
