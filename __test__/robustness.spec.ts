// Faults a gateway meets for real, each in a child process or a worker thread: absurd durations, a
// hostile openclaw.json, an untraversable HOME, workers terminated while they hold or wait, a hard-linked
// transcript, fencing after a revocation or a freeze, and failures on the write path. The bar: a clear,
// coded error, nothing lost, no lock left held, and never a crash or a frozen event loop in the host.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

import * as api from '../index.js'
import { FIXTURES, lockChild, sleep, tempSession } from './helpers'

const INDEX = path.join(__dirname, '..', 'index.js')
const POSIX = process.platform !== 'win32'

/** Runs `code` (with `api` bound to this package) in a fresh Node, with `env` added; returns what happened. */
function script(code: string, env: NodeJS.ProcessEnv = {}, timeout = 20_000) {
  const r = spawnSync(process.execPath, ['-e', `const api = require(${JSON.stringify(INDEX)});\n${code}`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout,
  })
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, timedOut: r.error?.message.includes('ETIMEDOUT') }
}

/** The last JSON line a script printed. */
const result = (r: ReturnType<typeof script>) => {
  const line = r.stdout.trim().split('\n').at(-1)
  assert.ok(line, `no output; status ${r.status} signal ${r.signal}: ${r.stderr}`)
  return JSON.parse(line)
}

test('durations too long for any clock mean "forever" and never crash: options, environment, file, drop-in', async (t) => {
  const { dir, file } = tempSession(t)
  const json = path.join(dir, 'openclaw.json')
  fs.writeFileSync(json, '{ session: { writeLock: { maxHoldMs: 2e22, acquireTimeoutMs: 1e300 } } }')
  const code = `
    (async () => {
      const out = {}
      for (const v of [1e300, Number.MAX_VALUE, 2e22]) {
        out['with' + v] = await api.withSessionWriteLock(${JSON.stringify(file)}, { acquireTimeoutMs: v, maxHoldMs: v, staleMs: v, noticeAfterMs: v }, () => 'ok')
        out['append' + v] = (await api.appendSessionEntries(${JSON.stringify(file)}, { v }, { maxHoldMs: v })).entries
      }
      const l = await api.acquireSessionWriteLock({ sessionFile: ${JSON.stringify(file)}, timeoutMs: 1e300, maxHoldMs: 1e300, staleMs: 1e300 })
      await l.release()
      out.dropin = 'ok'
      out.fromFile = await api.withSessionWriteLock(${JSON.stringify(file)}, { configPath: ${JSON.stringify(json)} }, () => 'ok')
      out.fromEnv = await api.withSessionWriteLock(${JSON.stringify(file)}, {}, () => 'ok')
      console.log(JSON.stringify(out))
    })()`
  const r = script(code, { OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS: '2e22', OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS: '1e300' })
  assert.equal(r.status, 0, r.stderr)
  assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning|panic/)
  const out = result(r)
  assert.deepEqual(Object.values(out).every((v) => v === 'ok' || v === 1), true, JSON.stringify(out))
  // Only the word Infinity means forever in the environment: 1e400 overflows to it, and is refused.
  const overflow = script(
    `api.withSessionWriteLock(${JSON.stringify(file)}, () => {}).then(() => console.log('{"ok":true}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })))`,
    { OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS: '1e400' },
  )
  const err = result(overflow)
  assert.equal(err.code, 'SESSION_WRITE_LOCK_CONFIG')
  assert.match(err.message, /OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS/)
})

test('openclaw.json nested 30 000 deep, or 300 000 arrays deep, is a coded error naming the file', async (t) => {
  const { dir, file } = tempSession(t)
  for (const [name, text] of [
    ['objects.json', '{"a":'.repeat(30_000)],
    ['arrays.json', '['.repeat(300_000)],
  ]) {
    const json = path.join(dir, name)
    fs.writeFileSync(json, text)
    const r = script(
      `api.withSessionWriteLock(${JSON.stringify(file)}, { configPath: ${JSON.stringify(json)} }, () => {}).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, path: e.path })))`,
    )
    assert.equal(r.status, 0, `${name}: ${r.signal} ${r.stderr}`)
    const err = result(r)
    assert.equal(err.code, 'SESSION_WRITE_LOCK_CONFIG')
    assert.equal(err.path, json)
    assert.match(err.message, /nested more than/)
  }
  // A deep sidecar is malformed, not a crash (serde_json's own depth limit).
  fs.writeFileSync(`${file}.lock`, '['.repeat(60_000))
  const inspected = api.inspectSessionLocks(dir).find((l) => l.lockPath.endsWith('session.jsonl.lock'))
  assert.equal(inspected?.kind, 'unknown')
})

test('a FIFO or a device as openclaw.json is refused at once: the event loop keeps running', { skip: !POSIX && 'FIFOs' }, async (t) => {
  const { dir, file } = tempSession(t)
  const fifo = path.join(dir, 'fifo.json')
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0)
  for (const target of [fifo, '/dev/zero']) {
    const r = script(
      `const tick = setInterval(() => {}, 10)
       api.withSessionWriteLock(${JSON.stringify(file)}, () => {}).then(() => console.log('{}'), (e) => { clearInterval(tick); console.log(JSON.stringify({ code: e.code, message: e.message, path: e.path })) })`,
      { OPENCLAW_CONFIG_PATH: target },
      10_000,
    )
    assert.ok(!r.timedOut, `${target}: the process hung`)
    const err = result(r)
    assert.equal(err.code, 'SESSION_WRITE_LOCK_CONFIG', target)
    assert.equal(err.path, target)
    assert.match(err.message, /not a regular file/)
  }
})

test('a default openclaw.json that cannot even be looked up means the defaults, with one warning', { skip: !POSIX && 'POSIX permissions' }, async (t) => {
  // Root enters any directory: as root, the check runs as nobody (setpriv), when this machine allows it.
  const root = process.getuid?.() === 0
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
  if (root && spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', '0']).status !== 0) {
    return t.skip('needs a user that may not enter a directory (setpriv)')
  }
  const { dir } = tempSession(t)
  fs.chmodSync(dir, 0o777)
  const home = path.join(dir, 'home') // the user's HOME, which the user may not enter
  fs.mkdirSync(home)
  fs.chmodSync(home, root ? 0o700 : 0o000) // root's 0700 directory is closed to nobody
  t.after(() => fs.rmSync(home, { recursive: true, force: true })) // empty: removable whatever its mode
  const work = path.join(dir, 'work')
  fs.mkdirSync(work)
  fs.chmodSync(work, 0o777)
  const file = path.join(work, 's.jsonl')
  const code = `
    const api = require(${JSON.stringify(INDEX)})
    const warnings = []
    process.on('warning', (w) => warnings.push(w.code))
    ;(async () => {
      const locked = await api.withSessionWriteLock(${JSON.stringify(file)}, () => 'ok')
      const again = await api.appendSessionEntries(${JSON.stringify(file)}, { x: 1 })
      const inspected = api.inspectSessionLocks(${JSON.stringify(work)}).length
      const explicit = await api.withSessionWriteLock(${JSON.stringify(file)}, { configPath: ${JSON.stringify(path.join(home, 'openclaw.json'))} }, () => {}).catch((e) => e.code)
      await new Promise((r) => setImmediate(r))
      console.log(JSON.stringify({ locked, entries: again.entries, inspected, explicit, warnings }))
    })()`
  const argv = [process.execPath, '-e', code]
  const [cmd, ...args] = root ? [...asNobody, ...argv] : argv
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, HOME: home, OPENCLAW_CONFIG_PATH: '', OPENCLAW_STATE_DIR: '' } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  assert.deepEqual(
    { ...out, warnings: out.warnings.filter((w: string) => w === 'SESSION_WRITE_LOCK_CONFIG_UNREADABLE').length },
    { locked: 'ok', entries: 1, inspected: 0, explicit: 'SESSION_WRITE_LOCK_CONFIG', warnings: 1 },
  )
})

/** A worker that runs `code` with `api` and `file` bound, posting its messages back. */
function worker(t: Parameters<typeof tempSession>[0], file: string, code: string) {
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const api = require(workerData.index)
     const file = workerData.file
     const post = (m) => parentPort.postMessage(m)
     ;(async () => { ${code} })().catch((e) => post({ crash: String(e && e.stack || e) }))`,
    { eval: true, workerData: { index: INDEX, file } },
  )
  t.after(() => w.terminate())
  const messages: unknown[] = []
  w.on('message', (m) => messages.push(m))
  const next = (pred: (m: any) => boolean) =>
    new Promise<any>((resolve, reject) => {
      const found = messages.find(pred)
      if (found) return resolve(found)
      const onMessage = (m: unknown) => pred(m) && (w.off('message', onMessage), resolve(m))
      w.on('message', onMessage)
      w.once('error', reject)
    })
  return { w, next }
}

test('a worker terminated while it holds releases the lock at once, not after maxHoldMs', async (t) => {
  const { file, lockPath } = tempSession(t)
  const { w, next } = worker(t, file, `await api.withSessionWriteLock(file, { maxHoldMs: 600000 }, () => { post('held'); return new Promise(() => {}) })`)
  await next((m) => m === 'held')
  assert.ok(fs.existsSync(lockPath))
  await w.terminate()
  const started = performance.now()
  await api.withSessionWriteLock(file, { acquireTimeoutMs: 2000 }, () => {})
  assert.ok(performance.now() - started < 500, 'the main thread got the lock at once')
  const other = lockChild(t, ['acquire', file, '1000'])
  await other.exited
  assert.ok(other.events.some((e) => e.event === 'acquired'), 'so does another process')
})

test('a worker terminated while queued is never granted the lock', async (t) => {
  const { file, lockPath } = tempSession(t)
  let release!: () => void
  const holding = api.withSessionWriteLock(file, () => new Promise<void>((r) => (release = r)))
  await sleep(20)
  const { w, next } = worker(t, file, `post('queued'); await api.withSessionWriteLock(file, { acquireTimeoutMs: 60000 }, () => post('granted'))`)
  await next((m) => m === 'queued')
  await sleep(50) // it is in the queue now
  assert.equal(api.sessionLockStats().activeSessions >= 1, true)
  await w.terminate()
  release()
  await holding
  const started = performance.now()
  await api.withSessionWriteLock(file, { acquireTimeoutMs: 2000 }, () => {})
  assert.ok(performance.now() - started < 500, 'the next acquisition of the main thread is not blocked by a dead grant')
  assert.equal(fs.existsSync(lockPath), false)
})
