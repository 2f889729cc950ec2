#!/usr/bin/env node
'use strict'

// `npm run bench` puts this package side by side with the lock it replaces and the libraries users would
// otherwise pick, in one run, on the same kind of files. `npm run bench -- --quick` is the small smoke
// variant run by `npm test`: it checks correctness (line counts), not speed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

/**
 * The contenders the package does not depend on (proper-lockfile, @openclaw/fs-safe) live in the
 * benchmark's own install, so that installing the package, or its checkout, never pulls them in.
 */
function installContenders() {
  const here = __dirname
  const installed = ['proper-lockfile', '@openclaw/fs-safe'].every((name) =>
    fs.existsSync(path.join(here, 'node_modules', ...name.split('/'), 'package.json')),
  )
  if (installed) return
  process.stderr.write('bench: installing the contenders (benchmark/package.json) ...\n')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-package-lock'], {
    cwd: here,
    stdio: ['ignore', 'inherit', 'inherit'],
    shell: process.platform === 'win32',
  })
  if (r.status !== 0) throw new Error(`bench: npm install in ${here} failed (status ${r.status})`)
}

/**
 * fs-ext is a native addon with no prebuilt binaries: it is built from source with node-gyp, against
 * the headers of the Node that runs the bench (its installation has them; node-gyp would otherwise
 * download them, and nothing outside the registries is reachable). Returns why it cannot run, or null.
 */
function installFsExt() {
  const here = __dirname
  const loadable = () =>
    spawnSync(process.execPath, ['-e', "require('fs-ext')"], { cwd: here, encoding: 'utf8', stdio: 'pipe' })
  if (loadable().status === 0) return null
  process.stderr.write('bench: building fs-ext from source ...\n')
  const prefix = path.dirname(path.dirname(process.execPath))
  const env = { ...process.env }
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const args = ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error']
  const r = spawnSync(npm, [...args, '--build-from-source', 'fs-ext@^2.1.1'], {
    cwd: here,
    env,
    encoding: 'utf8',
    stdio: 'pipe',
    timeout: 300_000,
    shell: process.platform === 'win32',
  })
  if (r.status === 0 && loadable().status === 0) return null
  const why = (r.error?.message ?? `${r.stderr}`.trim().split('\n').filter(Boolean).slice(-2).join(' / ')) || 'unknown'
  return `not built from source (npm status ${r.status}): ${why.slice(0, 300)}`
}

installContenders()
const FS_EXT_SKIPPED = installFsExt()
if (FS_EXT_SKIPPED) process.stderr.write(`bench: fs-ext skipped: ${FS_EXT_SKIPPED}\n`)
const NAMES = [
  ...require('./contenders').NAMES.filter((n) => n !== 'fs-ext' || !FS_EXT_SKIPPED),
  ...(process.env.SWL_AB_DIR ? ['swl-ab'] : []),
]

const QUICK = process.argv.includes('--quick')
/** `--only=handoff,roundtrip` runs a subset (for profiling); the summary needs every metric. */
const ONLY = process.argv
  .find((a) => a.startsWith('--only='))
  ?.split('=')[1]
  .split(',')
const ONLY_CONTENDERS = process.argv
  .find((a) => a.startsWith('--contenders='))
  ?.split('=')[1]
  .split(',')
const SIZES = QUICK
  ? {
      roundtrip: 100,
      tracing: [4, 50],
      floor: 2000,
      floorRounds: 2,
      group: [10, 10],
      handoffs: 12,
      throughput: 200,
      perAppender: 50,
      appenders: 4,
      holdMs: 300,
      waiters: 100,
      scale: 300,
    }
  : {
      roundtrip: 3000,
      tracing: [20, 200],
      floor: 20_000,
      floorRounds: 5,
      group: [100, 100],
      handoffs: 200,
      throughput: 5000,
      perAppender: 1000,
      appenders: 4,
      holdMs: 2000,
      waiters: 100,
      scale: 10_000,
    }
const LOCKS = NAMES.filter((n) => n !== 'raw')
/** The other libraries (and the legacy lock): what they do under load is what the bench reports. */
const PEERS = ['legacy', 'proper-lockfile', 'fs-safe', 'fs-ext']
const WORKER = path.join(__dirname, 'worker.js')
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-bench-'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const failures = []

function freshDir(label) {
  const dir = path.join(root, `${label}-${Math.random().toString(36).slice(2, 8)}`)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** Every worker process still running, so that none outlives a metric that failed, or the bench. */
const running = new Set()
const killWorkers = () => {
  for (const proc of running) proc.kill('SIGKILL')
}

class Worker {
  constructor(mode, contender, target, args = [], nodeArgs = []) {
    this.events = []
    this.waiters = []
    this.proc = spawn(process.execPath, [...nodeArgs, WORKER, mode, contender, target, ...args.map(String)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    running.add(this.proc)
    this.proc.on('exit', () => running.delete(this.proc))
    let buf = ''
    this.proc.stdout.setEncoding('utf8').on('data', (chunk) => {
      buf += chunk
      for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
        this.events.push(JSON.parse(buf.slice(0, nl)))
        for (const w of this.waiters.splice(0)) w()
      }
    })
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        for (const w of this.waiters.splice(0)) w()
        resolve(code)
      }),
    )
  }

  /** The next event matching `pred` that has not been taken yet. */
  async take(pred) {
    for (;;) {
      const i = this.events.findIndex(pred)
      if (i >= 0) return this.events.splice(i, 1)[0]
      if (this.proc.exitCode !== null) throw new Error(this.failure() ?? `worker exited (${this.proc.exitCode})`)
      await new Promise((r) => this.waiters.push(r))
    }
  }

  /** What the worker reported when its contender threw, if it did. */
  failure() {
    return this.events.find((e) => e.event === 'error')?.message
  }

  send(cmd) {
    this.proc.stdin.write(`${cmd}\n`)
  }

  async result() {
    const code = await this.exited
    if (code !== 0) throw new Error(this.failure() ?? `worker failed with ${code}`)
    return this.events.at(-1)
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]

async function roundtrip(c) {
  return new Worker('roundtrip', c, freshDir(`rt-${c}`), [SIZES.roundtrip]).result()
}

/**
 * The physical floor: the protocol's own system calls in a native loop (examples/protocol_floor.rs),
 * built here with cargo. Returns the program, or why it cannot be had.
 */
function buildFloor() {
  const repo = path.join(__dirname, '..')
  const built = spawnSync('cargo', ['build', '--release', '--quiet', '--locked', '--example', 'protocol_floor'], {
    cwd: repo,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (built.status !== 0)
    return { skipped: `cargo build of examples/protocol_floor.rs failed (${built.error ?? built.status})` }
  return {
    exe: path.join(
      repo,
      'target',
      'release',
      'examples',
      `protocol_floor${process.platform === 'win32' ? '.exe' : ''}`,
    ),
  }
}

function runFloor(exe, iterations, dir) {
  const run = spawnSync(exe, [dir, String(iterations)], { encoding: 'utf8' })
  if (run.status !== 0) return { skipped: `protocol_floor failed: ${run.stderr.trim()}` }
  return JSON.parse(run.stdout)
}

/**
 * The floor, and beside it, in alternating rounds on the same file system, our round trip and our
 * locked append with raw appendFileSync's. The file system's speed drifts within a run: ext4 allocates
 * inodes more slowly for a while after many were freed (here from 25 µs to 370 µs per create, after the
 * other round trips), so a ratio to the floor compares only figures of the same round.
 */
async function besideFloor() {
  const floor = buildFloor()
  if (floor.skipped) return { floor }
  const rounds = SIZES.floorRounds
  const taken = []
  for (let i = 0; i < rounds; i++) {
    const native = runFloor(floor.exe, Math.ceil(SIZES.floor / rounds), freshDir(`floor-${i}`))
    if (native.skipped) return { floor: native }
    const n = Math.ceil(SIZES.roundtrip / rounds)
    const rt = await new Worker('roundtrip', 'session-write-lock', freshDir(`fl-rt-${i}`), [n]).result()
    const m = Math.ceil(SIZES.throughput / rounds)
    const appends = await new Worker('throughput', 'session-write-lock', freshDir(`fl-tp-${i}`), [m]).result()
    const raw = await new Worker('throughput', 'raw', freshDir(`fl-raw-${i}`), [m]).result()
    taken.push({
      native,
      roundTripUs: rt.medianUs,
      appendUs: 1e6 / appends.recordsPerSec,
      rawUs: 1e6 / raw.recordsPerSec,
    })
  }
  // Per figure, its median over the rounds; per ratio, the median of the rounds' own ratios.
  const floorOf = (t) => (t.native.tmpfile ?? t.native.excl).medianUs
  const floorMedians = {}
  for (const key of Object.keys(taken[0].native)) {
    floorMedians[key] = { medianUs: median(taken.map((t) => t.native[key].medianUs)) }
  }
  return {
    floor: floorMedians,
    rounds,
    roundTripUs: median(taken.map((t) => t.roundTripUs)),
    appendUs: median(taken.map((t) => t.appendUs)),
    rawUs: median(taken.map((t) => t.rawUs)),
    roundTripRatio: median(taken.map((t) => t.roundTripUs / floorOf(t))),
    appendRatio: median(taken.map((t) => t.appendUs / (floorOf(t) + t.rawUs))),
    floorRange: [Math.min(...taken.map(floorOf)), Math.max(...taken.map(floorOf))],
  }
}

/** Ours, and raw appendFileSync: 100 callers of one process appending at once (group commit). */
async function group(c) {
  const r = await new Worker('group', c, freshDir(`gr-${c}`), SIZES.group).result()
  const expected = SIZES.group[0] * SIZES.group[1]
  if (r.lines !== expected) failures.push(`${c}: group commit wrote ${r.lines} lines, expected ${expected}`)
  return r
}

/** Ours only: round trips with and without subscribers on every tracing channel, interleaved. */
async function tracing(c) {
  return new Worker('tracing', c, freshDir(`tr-${c}`), SIZES.tracing).result()
}

async function handoff(c) {
  const file = path.join(freshDir(`ho-${c}`), 'session.jsonl')
  const peers = [new Worker('peer', c, file), new Worker('peer', c, file)]
  await Promise.all(peers.map((p) => p.take((e) => e.event === 'ready')))
  const gaps = []
  peers[0].send('acquire')
  await peers[0].take((e) => e.event === 'held')
  for (let i = 0; i < SIZES.handoffs; i++) {
    const [holder, waiter] = [peers[i % 2], peers[(i + 1) % 2]]
    waiter.send('acquire')
    await sleep(10) // the waiter is now waiting, in whatever way its lock waits
    holder.send('release')
    const released = await holder.take((e) => e.event === 'releasing')
    const got = await waiter.take((e) => e.event === 'held')
    gaps.push(got.t - released.t)
  }
  peers[SIZES.handoffs % 2].send('release')
  for (const p of peers) p.send('exit')
  await Promise.all(peers.map((p) => p.exited))
  return { medianMs: median(gaps), p99Ms: p99(gaps) }
}

/** How long it takes to wake an idle Node process at all (a byte through a pipe): no lock can hand off faster. */
async function pipeWake() {
  const peer = new Worker('pipe-peer', 'raw', root)
  await peer.take((e) => e.event === 'ready')
  const gaps = []
  for (let i = 0; i < SIZES.handoffs; i++) {
    await sleep(10)
    const t = Number(process.hrtime.bigint()) / 1e6
    peer.send('x')
    gaps.push((await peer.take((e) => e.event === 'woke')).t - t)
  }
  peer.proc.kill()
  return { medianMs: median(gaps), p99Ms: p99(gaps) }
}

async function throughput(c) {
  return new Worker('throughput', c, freshDir(`tp-${c}`), [SIZES.throughput]).result()
}

async function contended(c) {
  const file = path.join(freshDir(`ct-${c}`), 'session.jsonl')
  const workers = Array.from({ length: SIZES.appenders }, () => new Worker('appender', c, file, [SIZES.perAppender]))
  await Promise.all(workers.map((w) => w.take((e) => e.event === 'ready')))
  const t0 = Number(process.hrtime.bigint()) / 1e6
  for (const w of workers) w.send('go')
  const done = await Promise.all(workers.map((w) => w.take((e) => e.event === 'done')))
  const ms = Math.max(...done.map((d) => d.t)) - t0
  const expected = SIZES.appenders * SIZES.perAppender
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const tail = lines.pop()
  let torn = tail === '' ? 0 : 1
  for (const line of lines) {
    try {
      JSON.parse(line)
    } catch {
      torn++
    }
  }
  const ok = lines.length === expected && torn === 0
  if (!ok && c !== 'raw')
    failures.push(`${c}: contended appends wrote ${lines.length} lines (${torn} torn), expected ${expected}`)
  const longestMs = Math.max(...done.map((d) => d.longestMs))
  return { totalMs: ms, recordsPerSec: (expected * 1000) / ms, lines: lines.length, torn, longestMs }
}

/** CPU burned by 100 waiters over the hold, in a process doing nothing else. */
async function waitingCpu(c) {
  const file = path.join(freshDir(`cpu-${c}`), 'session.jsonl')
  const holder = new Worker('hold', c, file, [SIZES.holdMs])
  await holder.take((e) => e.event === 'held')
  const waiting = new Worker('waiters-quiet', c, file, [SIZES.waiters])
  await waiting.take((e) => e.event === 'ready')
  waiting.send('go')
  const report = await waiting.take((e) => e.event === 'report')
  await holder.exited
  waiting.proc.kill()
  return report.cpuWaitingMs
}

async function eventLoop(c) {
  const cpuWaitingMs = await waitingCpu(c)
  const file = path.join(freshDir(`el-${c}`), 'session.jsonl')
  const holder = new Worker('hold', c, file, [SIZES.holdMs])
  await holder.take((e) => e.event === 'held')
  const waiting = new Worker('waiters', c, file, [SIZES.waiters])
  await waiting.take((e) => e.event === 'ready')
  waiting.send('go')
  const released = await holder.take((e) => e.event === 'releasing')
  const report = await waiting.take((e) => e.event === 'report')
  await Promise.all([holder.exited, waiting.exited])
  if (report.through !== SIZES.waiters) failures.push(`${c}: only ${report.through} waiters got through`)
  return {
    p99DelayMs: report.p99DelayMs,
    readFileRatio: report.readBusyMs / report.readIdleMs,
    cpuWaitingMs,
    drainMs: report.lastDone - released.t,
  }
}

/**
 * With `--max-semi-space-size=1`: V8 otherwise grows its young generation (by up to 48 MB) under any
 * high allocation rate, which would hide a leak or fake one. This way RSS growth is memory retained.
 */
async function scale(c) {
  return new Worker('scale', c, freshDir(`sc-${c}`), [SIZES.scale], ['--expose-gc', '--max-semi-space-size=1']).result()
}

/** The round trip's time above the floor, priced: its calls besides the protocol's, then the rest. */
function aboveFloor(roundTripUs, protocolFloor, floor) {
  const extras = [
    ['stat of openclaw.json', floor.statMissing],
    ['realpath of the directory', floor.realpath],
    ['lstat of the transcript', floor.lstat],
  ]
  const above = roundTripUs - protocolFloor.medianUs
  const priced = extras.reduce((sum, [, f]) => sum + (f?.medianUs ?? 0), 0)
  const parts = extras.map(([what, f]) => `${what} ${fmt(f?.medianUs)}`)
  return `${fmt(above)}: ${parts.join(', ')}; the rest ${fmt(above - priced)} (user space: napi, JS, payload, bookkeeping)`
}

/** The handoff's time above the pipe-wake floor, priced: the protocol's own calls on its path, then the rest. */
function aboveWake(handoffMs, pipeWake, floor) {
  const above = (handoffMs - pipeWake.medianMs) * 1000
  const steps = floor.handoffSteps?.medianUs
  if (steps === undefined) return `${fmt(above)}`
  return `${fmt(above)}: the protocol's calls on its path (lstat + unlink by the holder, linkat by the waiter), run natively, ${fmt(steps)}; the rest ${fmt(above - steps)} (the flock thread, napi, JS, and those calls run cold in processes just woken)`
}

/**
 * Ours ÷ fs-ext for the figures where fs-ext's blocking wait is fastest (target ≤ 1×: no worse), and what
 * that wait costs its process.
 */
function vsFsExt(r) {
  const ours = 'session-write-lock'
  if (!r.handoff['fs-ext']) return [['2. vs fs-ext', FS_EXT_SKIPPED ? `skipped: ${FS_EXT_SKIPPED}` : '-']]
  const both = (get, digits = 3) => {
    const [a, b] = [get(ours), get('fs-ext')]
    return `${a && b ? fmt(a / b) : '-'}× (${fmt(a, digits)} vs ${fmt(b, digits)} ms)`
  }
  return [
    ['2. handoff median, ours ÷ fs-ext (target ≤ 1×)', both((c) => r.handoff[c]?.medianMs)],
    ['2. handoff p99, ours ÷ fs-ext (target ≤ 1×)', both((c) => r.handoff[c]?.p99Ms)],
    ['4. longest single append, ours ÷ fs-ext (target ≤ 1×)', both((c) => r.contended[c]?.longestMs, 2)],
    ['5. drain 100 waiters, ours ÷ fs-ext (target ≤ 1×)', both((c) => r.eventLoop[c]?.drainMs, 2)],
    [
      "5. what fs-ext's wait costs its process: readFile waiting ÷ idle",
      `${fmt(r.eventLoop['fs-ext']?.readFileRatio)}× (ours ${fmt(r.eventLoop[ours]?.readFileRatio)}×)`,
    ],
  ]
}

const fmt = (v, digits = 2) =>
  v === undefined || v === null || Number.isNaN(v)
    ? '-'
    : v >= 100
      ? Math.round(v).toLocaleString('en-US')
      : v.toFixed(digits)

async function main() {
  const results = {}
  const peerFailures = []
  const run = async (metric, fn, contenders) => {
    results[metric] = {}
    if (ONLY && !ONLY.includes(metric)) return
    for (const c of contenders) {
      if (ONLY_CONTENDERS && !ONLY_CONTENDERS.includes(c)) continue
      process.stderr.write(`  ${metric}: ${c}\n`)
      try {
        results[metric][c] = await fn(c)
      } catch (err) {
        killWorkers()
        // A peer that fails under the load is a finding about that peer, reported in its column; a
        // failure of ours or of a baseline (raw, naive-wx) is a failure of the bench.
        if (!PEERS.includes(c)) throw err
        const why = String(err?.message ?? err).split('\n')[0]
        peerFailures.push(`${c} failed in ${metric}: ${why}`)
        results[metric][c] = { failed: why }
      }
    }
  }
  const started = Date.now()
  if (!ONLY || ONLY.includes('floor')) {
    process.stderr.write('  floor: native protocol loop, alternating with ours\n')
    results.beside = await besideFloor()
    results.floor = results.beside.floor
  }
  await run('roundtrip', roundtrip, [...LOCKS, 'naive-wx'])
  await run('tracing', tracing, ['session-write-lock'])
  await run('handoff', handoff, LOCKS)
  if (!ONLY || ONLY.includes('handoff')) results.pipeWake = await pipeWake()
  await run('throughput', throughput, NAMES)
  await run('contended', contended, NAMES)
  await run('group', group, ['session-write-lock', 'raw'])
  await run('eventLoop', eventLoop, LOCKS)
  await run('scale', scale, LOCKS)

  const ours = 'session-write-lock'
  const r = results
  if (ONLY || ONLY_CONTENDERS) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`)
    return fs.rmSync(root, { recursive: true, force: true })
  }
  const rows = [
    ['1. round trip, median (µs)', (c) => r.roundtrip[c]?.medianUs],
    ['1. round trip, p99 (µs)', (c) => r.roundtrip[c]?.p99Us],
    ['2. handoff, median (ms)', (c) => r.handoff[c]?.medianMs],
    ['2. handoff, p99 (ms)', (c) => r.handoff[c]?.p99Ms],
    ['3. appends, one process (records/s)', (c) => r.throughput[c]?.recordsPerSec],
    [`4. contended appends, ${SIZES.appenders}×${SIZES.perAppender} (records/s)`, (c) => r.contended[c]?.recordsPerSec],
    [
      '4. lines written / torn',
      (c) => r.contended[c] && (r.contended[c].failed ? 'failed' : `${r.contended[c].lines} / ${r.contended[c].torn}`),
    ],
    ['4. longest single append (ms)', (c) => r.contended[c]?.longestMs],
    ['5. event-loop delay p99 (ms)', (c) => r.eventLoop[c]?.p99DelayMs],
    ['5. readFile latency, waiting ÷ idle', (c) => r.eventLoop[c]?.readFileRatio],
    [`5. CPU while waiting ${SIZES.holdMs} ms (ms)`, (c) => r.eventLoop[c]?.cpuWaitingMs],
    [`5. drain ${SIZES.waiters} waiters after release (ms)`, (c) => r.eventLoop[c]?.drainMs],
    [
      `6. ${SIZES.scale} sessions: descriptors before → after`,
      (c) => (r.scale[c]?.fdsBefore === undefined ? undefined : `${r.scale[c].fdsBefore} → ${r.scale[c].fdsAfter}`),
    ],
    [`6. ${SIZES.scale} sessions: RSS growth (MB)`, (c) => r.scale[c]?.rssGrowthMb],
    [`6. ${SIZES.scale} sessions: JS heap growth (MB)`, (c) => r.scale[c]?.heapGrowthMb],
    [
      `7. group commit, ${SIZES.group[0]} callers × ${SIZES.group[1]} appends, one process (records/s)`,
      (c) => r.group[c]?.recordsPerSec,
    ],
  ]
  const columns = [...NAMES, 'naive-wx']
  const cell = (v) => (typeof v === 'string' ? v : fmt(v))
  const lines = [
    `| metric | ${columns.join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...rows.map(([label, get]) => `| ${label} | ${columns.map((c) => cell(get(c))).join(' | ')} |`),
  ]
  const ratio = (a, b) => (a && b ? `${fmt(a / b)}×` : '-')
  const floor = r.floor ?? {}
  const b = r.beside ?? {}
  // The floor of what we run: the O_TMPFILE publish where there is one (Linux), else the O_EXCL create.
  const protocolFloor = floor.tmpfile ?? floor.excl
  const floors = floor.skipped
    ? [['1. floor: native protocol loop', `skipped: ${floor.skipped}`]]
    : [
        [
          '1. floor: native protocol loop, median µs (O_TMPFILE publish / O_EXCL / +realpath / create+close+unlink)',
          [floor.tmpfile, floor.excl, floor.exclRealpath, floor.create].map((f) => fmt(f?.medianUs)).join(' / '),
        ],
        [
          `1. round trip ÷ native protocol floor, median of ${b.rounds} alternating rounds (target ≤ 2×)`,
          `${fmt(b.roundTripRatio)}× (${fmt(b.roundTripUs)} vs ${fmt(protocolFloor.medianUs)} µs; the floor ranged ${fmt(b.floorRange[0])}-${fmt(b.floorRange[1])} µs over the rounds)`,
        ],
        ['1. what the round trip adds to the floor, µs', aboveFloor(b.roundTripUs, protocolFloor, floor)],
        [
          `3. one locked 1 KiB append ÷ (native floor + raw appendFileSync), median of ${b.rounds} rounds (target ≤ 2×)`,
          `${fmt(b.appendRatio)}× (${fmt(b.appendUs)} vs ${fmt(protocolFloor.medianUs)} + ${fmt(b.rawUs)} µs)`,
        ],
      ]
  const targets = [
    ...floors,
    ['1. round trip vs legacy (target ≥ 20× faster)', ratio(r.roundtrip.legacy.medianUs, r.roundtrip[ours].medianUs)],
    [
      '1. round trip vs naive open(wx)+unlink in JS',
      ratio(r.roundtrip['naive-wx'].medianUs, r.roundtrip[ours].medianUs),
    ],
    [
      '1. tracing: round trip with every channel subscribed ÷ nobody subscribed (interleaved)',
      `${ratio(r.tracing[ours].onUs, r.tracing[ours].offUs)} (${fmt(r.tracing[ours].onUs)} vs ${fmt(r.tracing[ours].offUs)} µs)`,
    ],
    [
      '1. tracing: the checks made with nobody subscribed, per round trip',
      `${fmt(r.tracing[ours].checksNs)} ns (${fmt((100 * r.tracing[ours].checksNs) / (1000 * r.tracing[ours].offUs), 3)}% of it)`,
    ],
    [
      '2. handoff median (target ≤ 0.1 ms) / p99 (target ≤ 1 ms)',
      `${fmt(r.handoff[ours].medianMs, 3)} / ${fmt(r.handoff[ours].p99Ms, 3)} ms`,
    ],
    [
      '2. floor: waking an idle Node process through a pipe, median / p99',
      `${fmt(r.pipeWake.medianMs, 3)} / ${fmt(r.pipeWake.p99Ms, 3)} ms`,
    ],
    ['2. handoff median ÷ pipe-wake floor (target ≤ 2×)', ratio(r.handoff[ours].medianMs, r.pipeWake.medianMs)],
    ['2. what the handoff adds to the pipe-wake floor, µs', aboveWake(r.handoff[ours].medianMs, r.pipeWake, floor)],
    ['2. handoff vs legacy', ratio(r.handoff.legacy.medianMs, r.handoff[ours].medianMs)],
    ...vsFsExt(r),
    [
      '3. appends, share of raw appendFileSync (target ≥ 50%)',
      `${fmt((100 * r.throughput[ours].recordsPerSec) / r.throughput.raw.recordsPerSec, 1)}%`,
    ],
    ['3. appends vs legacy', ratio(r.throughput[ours].recordsPerSec, r.throughput.legacy.recordsPerSec)],
    [
      '4. contended, share of raw single-process (target ≥ 30%)',
      `${fmt((100 * r.contended[ours].recordsPerSec) / r.throughput.raw.recordsPerSec, 1)}%`,
    ],
    ['4. contended vs legacy', ratio(r.contended[ours].recordsPerSec, r.contended.legacy.recordsPerSec)],
    [
      '7. group commit, share of raw appendFileSync of the same lines (target ≥ 50%)',
      `${fmt((100 * r.group[ours].recordsPerSec) / r.group.raw.recordsPerSec, 1)}%`,
    ],
    ['5. event-loop p99 (target < 5 ms)', `${fmt(r.eventLoop[ours].p99DelayMs)} ms`],
    ['5. readFile waiting ÷ idle (target ≤ 2×)', `${fmt(r.eventLoop[ours].readFileRatio)}×`],
    ['5. CPU while waiting (target < 20 ms)', `${fmt(r.eventLoop[ours].cpuWaitingMs)} ms`],
    ['5. drain 100 waiters (target < 100 ms)', `${fmt(r.eventLoop[ours].drainMs)} ms`],
    [
      '6. descriptors back to baseline; RSS growth (target < 20 MB)',
      `${r.scale[ours].fdsBefore} → ${r.scale[ours].fdsAfter}; ${fmt(r.scale[ours].rssGrowthMb)} MB`,
    ],
  ]
  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`
  const report = [
    `session-write-lock benchmark${QUICK ? ' (quick)' : ''}, ${new Date().toISOString().slice(0, 10)}, ${machine}`,
    `files under ${os.tmpdir()}; ${((Date.now() - started) / 1000).toFixed(0)} s`,
    ...(FS_EXT_SKIPPED ? [`fs-ext skipped: ${FS_EXT_SKIPPED}`] : []),
    ...peerFailures,
    '',
    ...lines,
    '',
    '| target | this run |',
    '|---|---:|',
    ...targets.map(([t, v]) => `| ${t} | ${v} |`),
  ].join('\n')
  process.stdout.write(`${report}\n`)
  if (!QUICK) fs.writeFileSync(path.join(__dirname, 'results.md'), `${report}\n`)
  fs.rmSync(root, { recursive: true, force: true })
  if (failures.length) {
    process.stderr.write(`\ncorrectness failures:\n${failures.map((f) => `  ${f}`).join('\n')}\n`)
    process.exitCode = 1
  }
}

main()
  .catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`)
    process.exitCode = 1
  })
  .finally(() => {
    killWorkers()
    fs.rmSync(root, { recursive: true, force: true })
  })
