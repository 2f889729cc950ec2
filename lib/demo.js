'use strict'

// `session-write-lock demo`: several gateway-like processes write one session, holding the lock only for
// their writes. One worker's model call fails mid-turn and records an error entry; one worker is
// SIGKILLed while it holds the lock. The run ends with a check that every acknowledged entry is there
// exactly once, no line is torn, and nobody waited on the dead holder.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { randomUUID } = require('node:crypto')

const WORKERS = 4
const TURNS = 15

function startWorker(file, id, role, onEvent) {
  const args = [path.join(__dirname, 'demo-worker.js'), file, id, String(TURNS), role]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let buf = ''
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    buf += chunk
    for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) onEvent(child, JSON.parse(buf.slice(0, nl)))
  })
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ id, code, signal })))
}

async function demo({ out = process.stdout } = {}) {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'openclaw-demo-'))
  const file = path.join(stateDir, 'agents', 'main', 'sessions', `${randomUUID()}.jsonl`)
  const log = (line) => out.write(`${line}\n`)
  log(`session: ${file}`)
  log(`${WORKERS} worker processes x ${TURNS} turns (user message, model call with no lock held, reply)`)
  log("  w1 will be SIGKILLed while it holds the lock; w2's third model call fails with a quota error\n")

  const acked = new Set()
  const counts = {}
  let killedAt = null
  let firstAfterKill = null
  let maxWaitMs = 0
  const onEvent = (child, ev) => {
    if (ev.type === 'acquired') {
      maxWaitMs = Math.max(maxWaitMs, ev.waitedMs)
      if (killedAt !== null && firstAfterKill === null) {
        firstAfterKill = ev.t - killedAt
        log(`  w${ev.worker.slice(1)} took the lock ${firstAfterKill} ms after the kill`)
      }
    }
    if (ev.type === 'ack') {
      acked.add(`${ev.worker}:${ev.turn}:${ev.role}`)
      if (ev.role === 'error') log(`  ${ev.worker}: model call failed; error entry recorded, session still usable`)
      counts[ev.worker] = (counts[ev.worker] ?? 0) + 1
      if (acked.size % 20 === 0) log(`  progress: ${acked.size} entries acknowledged ${JSON.stringify(counts)}`)
    }
    if (ev.type === 'crashing') {
      log(`  w1 holds the lock and is about to be killed (pid ${child.pid})`)
      setTimeout(() => {
        killedAt = Date.now()
        child.kill('SIGKILL')
        log('  SIGKILL sent to w1 while it holds the lock')
      }, 50)
    }
    if (ev.type === 'error') log(`  ${ev.worker} failed: ${ev.code} ${ev.message}`)
  }
  const exits = await Promise.all(
    Array.from({ length: WORKERS }, (_, i) =>
      startWorker(file, `w${i + 1}`, ['crash', 'failing'][i] ?? 'normal', onEvent),
    ),
  )

  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const torn = lines.pop() !== '' ? 1 : 0
  const seen = new Map()
  let errors = 0
  for (const line of lines) {
    const { worker, turn, role } = JSON.parse(line)
    const key = `${worker}:${turn}:${role}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
    if (role === 'error') errors++
  }
  const missing = [...acked].filter((k) => seen.get(k) !== 1)
  const others = exits.filter((e) => e.id !== 'w1')
  const checks = [
    [`every acknowledged entry is present exactly once (${acked.size} entries)`, missing.length === 0],
    ['no line is torn', torn === 0],
    ['the failed model call left an error entry, and its worker carried on', errors === 1 && exits[1].code === 0],
    [
      `nobody waited on the dead holder (next acquisition ${firstAfterKill} ms after the kill)`,
      firstAfterKill !== null && firstAfterKill < 1000,
    ],
    ['every surviving worker finished cleanly', others.every((e) => e.code === 0)],
    ['no sidecar is left', !fs.existsSync(`${file}.lock`)],
  ]
  log('\nchecks:')
  for (const [what, ok] of checks) log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`)
  log(`longest wait for the lock: ${maxWaitMs} ms`)
  fs.rmSync(stateDir, { recursive: true, force: true })
  return checks.every(([, ok]) => ok)
}

module.exports = { demo }
