#!/usr/bin/env node
'use strict'

// `npm run fuzz [-- --seconds N] [target...]`: runs each cargo-fuzz target (fuzz/fuzz_targets/) for a
// bounded time, seeded from fuzz/corpus/<target>/. New inputs go to a temporary corpus, so the committed
// seeds only change by hand. A crash leaves its input under fuzz/artifacts/<target>/; copy it into
// fuzz/corpus/<target>/ after fixing it, and `cargo test` replays it from then on (src/fuzz_checks.rs).
//
// cargo-fuzz is installed from crates.io when missing. libFuzzer's instrumentation uses unstable rustc
// flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, so no nightly toolchain is needed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const TARGETS = ['payload', 'tail_repair', 'config']
const argv = process.argv.slice(2)
const secondsAt = argv.indexOf('--seconds')
const seconds = secondsAt >= 0 ? Number(argv[secondsAt + 1]) : 60
const chosen = argv.filter((a, i) => !a.startsWith('--') && i !== secondsAt + 1)
const targets = chosen.length ? chosen : TARGETS
const fuzzDir = path.join(__dirname, '..', 'fuzz')
const env = { ...process.env, RUSTC_BOOTSTRAP: '1' }

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', env, ...opts })

if (spawnSync('cargo', ['fuzz', '--version'], { env }).status !== 0) {
  console.error('installing cargo-fuzz from crates.io...')
  if (run('cargo', ['install', 'cargo-fuzz', '--locked']).status !== 0) process.exit(1)
}

let failed = false
for (const target of targets) {
  if (!TARGETS.includes(target)) {
    console.error(`unknown fuzz target ${target} (targets: ${TARGETS.join(', ')})`)
    process.exit(2)
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `swl-fuzz-${target}-`))
  console.error(`fuzzing ${target} for ${seconds} s`)
  const r = run(
    'cargo',
    [
      'fuzz',
      'run',
      target,
      work,
      path.join('corpus', target),
      '--',
      `-max_total_time=${seconds}`,
      '-print_final_stats=1',
    ],
    { cwd: fuzzDir },
  )
  fs.rmSync(work, { recursive: true, force: true })
  if (r.status !== 0) {
    console.error(`fuzz target ${target} FAILED: see fuzz/artifacts/${target}/`)
    failed = true
  }
}
process.exitCode = failed ? 1 : 0
