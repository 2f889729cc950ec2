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
import { BOUNDED, FIXTURES, lockChild, sleep, tempSession } from './helpers'

const INDEX = path.join(__dirname, '..', 'index.js')
const POSIX = process.platform !== 'win32'

/** Runs `code` (with `api` bound to this package) in a fresh Node, with `env` added; returns what happened. */
function script(code: string, env: NodeJS.ProcessEnv = {}, timeout = 20_000) {
  const r = spawnSync(process.execPath, ['-e', `const api = require(${JSON.stringify(INDEX)});\n${code}`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout,
  })
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    timedOut: r.error?.message.includes('ETIMEDOUT'),
  }
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
  const r = script(code, {
    OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS: '2e22',
    OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS: '1e300',
  })
  assert.equal(r.status, 0, r.stderr)
  assert.doesNotMatch(r.stderr, /TimeoutOverflowWarning|panic/)
  const out = result(r)
  assert.deepEqual(
    Object.values(out).every((v) => v === 'ok' || v === 1),
    true,
    JSON.stringify(out),
  )
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

test(
  'a FIFO or a device as openclaw.json is refused at once: the event loop keeps running',
  { skip: !POSIX && 'FIFOs' },
  async (t) => {
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
  },
)

test(
  'a default openclaw.json that cannot even be looked up means the defaults, with one warning',
  { skip: !POSIX && 'POSIX permissions' },
  async (t) => {
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
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      ...BOUNDED,
      env: { ...process.env, HOME: home, OPENCLAW_CONFIG_PATH: '', OPENCLAW_STATE_DIR: '' },
    })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    assert.deepEqual(
      { ...out, warnings: out.warnings.filter((w: string) => w === 'SESSION_WRITE_LOCK_CONFIG_UNREADABLE').length },
      { locked: 'ok', entries: 1, inspected: 0, explicit: 'SESSION_WRITE_LOCK_CONFIG', warnings: 1 },
    )
  },
)

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
  const { w, next } = worker(
    t,
    file,
    `await api.withSessionWriteLock(file, { maxHoldMs: 600000 }, () => { post('held'); return new Promise(() => {}) })`,
  )
  await next((m) => m === 'held')
  assert.ok(fs.existsSync(lockPath))
  await w.terminate()
  const started = performance.now()
  await api.withSessionWriteLock(file, { acquireTimeoutMs: 2000 }, () => {})
  assert.ok(performance.now() - started < 500, 'the main thread got the lock at once')
  const other = lockChild(t, ['acquire', file, '1000'])
  await other.exited
  assert.ok(
    other.events.some((e) => e.event === 'acquired'),
    'so does another process',
  )
})

test('a worker terminated while queued is never granted the lock', async (t) => {
  const { file, lockPath } = tempSession(t)
  let release!: () => void
  const holding = api.withSessionWriteLock(file, () => new Promise<void>((r) => (release = r)))
  await sleep(20)
  const { w, next } = worker(
    t,
    file,
    `post('queued'); await api.withSessionWriteLock(file, { acquireTimeoutMs: 60000 }, () => post('granted'))`,
  )
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

test(
  'a hard-linked transcript is refused for append, repair, read and rewrite, and left untouched',
  { skip: !POSIX && 'hard links need POSIX here' },
  async (t) => {
    const { dir, file } = tempSession(t)
    const outside = path.join(dir, 'outside-openclaw.json')
    fs.writeFileSync(outside, '{\n  "gateway": true\n}') // no trailing newline: a "torn tail" to repair
    fs.linkSync(outside, file)
    const attempts = {
      append: () => api.appendSessionEntries(file, { role: 'user' }),
      read: () => api.withSessionWriteLock(file, (lock) => lock.read()),
      rewrite: () => api.withSessionWriteLock(file, (lock) => lock.rewrite([{ role: 'user' }])),
      appendSync: async () => api.appendSessionEntriesSync(file, { role: 'user' }),
    }
    for (const [name, attempt] of Object.entries(attempts)) {
      const err = await attempt().then(
        () => null,
        (e) => e,
      )
      assert.equal(err?.code, 'SESSION_WRITE_LOCK_UNSAFE_PATH', `${name}: ${err}`)
    }
    assert.equal(fs.readFileSync(outside, 'utf8'), '{\n  "gateway": true\n}')
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      ['outside-openclaw.json', 'session.jsonl'],
      'no quarantine file, no sidecar left',
    )
  },
)

test('a nested call from a revoked hold fails with SESSION_WRITE_LOCK_LOST instead of acquiring anew', async (t) => {
  const { file } = tempSession(t)
  const revoked: string[] = []
  const outcome = await api.withSessionWriteLock(
    file,
    { maxHoldMs: 200, onRevoked: (e) => revoked.push(e.code) },
    async (lock) => {
      lock.read()
      await sleep(600) // past maxHoldMs: the watchdog revokes
      const nested = await api.appendSessionEntries(file, { based: 'on the read above' }).catch((e) => e.code)
      const nestedWith = await api.withSessionWriteLock(file, () => 'inside').catch((e) => e.code)
      return { nested, nestedWith, signal: lock.signal.aborted }
    },
  )
  assert.deepEqual(outcome, { nested: 'SESSION_WRITE_LOCK_LOST', nestedWith: 'SESSION_WRITE_LOCK_LOST', signal: true })
  assert.deepEqual(revoked, ['SESSION_WRITE_LOCK_LOST'])
  assert.equal(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '', '', 'nothing was written')
})

test('a revocation during a busy synchronous step is reported exactly once', async (t) => {
  const { file } = tempSession(t)
  const busy = (ms: number) => {
    const until = performance.now() + ms
    while (performance.now() < until);
  }
  // With a write after the busy step, and without one: one notice each, never zero, never two.
  for (const writes of [true, false]) {
    const revoked: string[] = []
    const warnings: string[] = []
    const onWarning = (w: Error & { code?: string }) =>
      w.code === 'SESSION_WRITE_LOCK_REVOKED' && warnings.push(w.message)
    process.on('warning', onWarning)
    await api.withSessionWriteLock(file, { maxHoldMs: 100, onRevoked: (e) => revoked.push(e.reason) }, (lock) => {
      busy(500)
      if (writes) assert.throws(() => lock.append({ late: true }), { code: 'SESSION_WRITE_LOCK_LOST' })
    })
    await sleep(100) // let a late listener call arrive, if any
    process.off('warning', onWarning)
    assert.equal(revoked.length, 1, `writes=${writes}: ${JSON.stringify(revoked)}`)
    assert.match(revoked[0], /maxHoldMs/)
    assert.deepEqual(warnings, [], 'onRevoked took the notice')
  }
})

test('a holder frozen past maxHoldMs writes nothing when it resumes', { skip: !POSIX && 'SIGSTOP' }, async (t) => {
  const { file } = tempSession(t)
  const child = lockChild(t, ['append-loop', file, '1000'])
  await child.waitFor('held')
  await sleep(300)
  child.kill('SIGSTOP')
  await sleep(1500)
  child.kill('SIGCONT')
  const refused = await child.waitFor('refused')
  assert.equal(refused.code, 'SESSION_WRITE_LOCK_LOST')
  const late = child.events.filter((e) => e.event === 'appended' && Number(e.at) > 1000)
  assert.deepEqual(late, [], 'an append went through after maxHoldMs')
  const written = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).at)
  assert.ok(written.length > 3 && written.every((at: number) => at <= 1000), JSON.stringify(written))
})

/** strace, when this machine has it: fault injection into one system call. */
const STRACE = spawnSync('strace', ['-V']).status === 0

test(
  'a failed rollback says so: the entries may be in the transcript',
  { skip: !STRACE && 'needs strace' },
  async (t) => {
    const { file } = tempSession(t)
    fs.writeFileSync(file, '{"before":true}\n')
    const code = `
    const api = require(${JSON.stringify(INDEX)})
    api.appendSessionEntries(${JSON.stringify(file)}, { after: true }, { durability: 'data' })
      .then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, syscall: e.syscall, rolledBack: e.rolledBack, rollbackCode: e.rollbackCode, message: e.message })))`
    const faults = (spec: string[]) => {
      const traced = 'trace=fdatasync,ftruncate' // strace injects only into calls it traces
      const r = spawnSync(
        'strace',
        ['-f', '-qq', '-o', os.devNull, '-e', traced, ...spec.flatMap((s) => ['-e', s]), process.execPath, '-e', code],
        { encoding: 'utf8', ...BOUNDED },
      )
      return result({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, timedOut: false })
    }
    const rolled = faults(['inject=fdatasync:error=EIO'])
    assert.deepEqual([rolled.code, rolled.syscall, rolled.rolledBack], ['EIO', 'fdatasync', undefined])
    assert.equal(fs.readFileSync(file, 'utf8'), '{"before":true}\n', 'cut back')
    const stuck = faults(['inject=fdatasync:error=EIO', 'inject=ftruncate:error=EIO'])
    assert.deepEqual([stuck.code, stuck.rolledBack, stuck.rollbackCode], ['EIO', false, 'EIO'])
    assert.match(stuck.message, /the entries may be in the transcript/)
  },
)

test(
  'a quarantine that fails leaves no empty file behind, and the transcript as it was',
  { skip: !POSIX && 'ulimit -f' },
  async (t) => {
    const { dir, file } = tempSession(t)
    const torn = `{"complete":true}\n{"torn":"${'x'.repeat(200_000)}`
    fs.writeFileSync(file, torn)
    const script = path.join(FIXTURES, 'lock-child.js')
    for (let i = 0; i < 3; i++) {
      // The fragment is larger than the file size limit: writing it to the quarantine file fails (EFBIG).
      const r = spawnSync(
        'sh',
        ['-c', `ulimit -f 64 && exec "${process.execPath}" "${script}" append-fsize "${file}" 10`],
        { encoding: 'utf8', ...BOUNDED },
      )
      const ev = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
      assert.equal(ev.code, 'EFBIG', r.stdout + r.stderr)
    }
    assert.deepEqual(fs.readdirSync(dir), ['session.jsonl'], 'no .corrupt-* file per attempt, no sidecar')
    assert.equal(fs.readFileSync(file, 'utf8'), torn)
  },
)

test('lock.read() of a transcript larger than a string can hold is a coded error naming the path', async (t) => {
  const { file } = tempSession(t)
  const { constants } = require('node:buffer') as typeof import('node:buffer')
  fs.writeFileSync(file, '')
  fs.truncateSync(file, constants.MAX_STRING_LENGTH + 1) // sparse: nothing is really written
  const started = performance.now()
  const err = await api.withSessionWriteLock(file, (lock) => lock.read()).catch((e) => e)
  assert.equal(err.code, 'SESSION_TRANSCRIPT_TOO_LARGE')
  assert.equal(err.path, file)
  assert.ok(err instanceof api.SessionTranscriptTooLargeError)
  assert.ok(performance.now() - started < 1000, 'refused before reading')
})

test('small ones: read() through a symlink, a dangling symlinked directory, EINTR on flock', async (t) => {
  const { dir, file } = tempSession(t)
  if (POSIX) {
    fs.writeFileSync(path.join(dir, 'elsewhere.jsonl'), '{"x":1}\n')
    fs.symlinkSync(path.join(dir, 'elsewhere.jsonl'), file)
    const viaLink = await api.withSessionWriteLock(file, (lock) => lock.read()).catch((e) => e)
    assert.equal(viaLink.code, 'SESSION_WRITE_LOCK_UNSAFE_PATH')
    const dangling = path.join(dir, 'gone')
    fs.symlinkSync(path.join(dir, 'nowhere'), dangling)
    const missing = await api.appendSessionEntries(path.join(dangling, 's.jsonl'), { x: 1 }).catch((e) => e)
    assert.deepEqual([missing.code, missing.path], ['ENOENT', dangling])
  }
  if (STRACE) {
    const other = path.join(dir, 'intr.jsonl')
    const code = `require(${JSON.stringify(INDEX)}).appendSessionEntries(${JSON.stringify(other)}, { ok: 1 }).then(() => console.log('{"ok":true}'), (e) => console.log(JSON.stringify({ code: e.code })))`
    const trace = path.join(dir, 'flock.trace')
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-o',
        trace,
        '-e',
        'trace=flock',
        '-e',
        'inject=flock:error=EINTR:when=1..2',
        process.execPath,
        '-e',
        code,
      ],
      { encoding: 'utf8', ...BOUNDED },
    )
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { ok: true }, r.stderr)
    assert.match(fs.readFileSync(trace, 'utf8'), /flock\(.*EINTR.*\(INJECTED\)/, 'the fault was injected')
  }
})

test(
  'one sidecar the cleaner cannot handle is reported with its error; the others are still removed',
  { skip: !POSIX && 'POSIX permissions' },
  async (t) => {
    const root = process.getuid?.() === 0
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    if (root && spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', '0']).status !== 0) {
      return t.skip('needs a user whom a 0400 file refuses (setpriv)')
    }
    const { dir } = tempSession(t)
    const sessions = path.join(dir, 'agents', 'main', 'sessions')
    fs.mkdirSync(sessions, { recursive: true })
    const dead = spawnSync(process.execPath, ['-e', '']).pid
    for (const name of ['a', 'b', 'c']) {
      fs.writeFileSync(
        path.join(sessions, `${name}.jsonl.lock`),
        JSON.stringify({ pid: dead, createdAt: new Date().toISOString() }),
      )
    }
    if (root) {
      for (const d of [dir, path.join(dir, 'agents'), path.join(dir, 'agents', 'main'), sessions])
        fs.chmodSync(d, 0o777)
      for (const name of ['a', 'c']) fs.chmodSync(path.join(sessions, `${name}.jsonl.lock`), 0o666)
    }
    fs.chmodSync(path.join(sessions, 'b.jsonl.lock'), 0o400) // root-owned and 0400: nobody may open it to lock
    const code = `
    const api = require(${JSON.stringify(INDEX)})
    ;(async () => {
      const clean = await api.cleanStaleLockFiles({ sessionsDir: ${JSON.stringify(sessions)} })
      console.log(JSON.stringify({ cleaned: clean.cleaned.map((l) => l.lockPath.slice(-12)), errors: clean.locks.filter((l) => l.error).map((l) => [l.lockPath.slice(-12), l.error.code]) }))
    })()`
    const run = (argv: string[]) => {
      const [cmd, ...args] = root ? [...asNobody, ...argv] : argv
      return spawnSync(cmd, args, { encoding: 'utf8', ...BOUNDED, env: { ...process.env, OPENCLAW_STATE_DIR: dir } })
    }
    const r = run([process.execPath, '-e', code])
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    assert.deepEqual(out, { cleaned: ['a.jsonl.lock', 'c.jsonl.lock'], errors: [['b.jsonl.lock', 'EACCES']] })
    // The doctor: no stack trace, the error in the table, exit 1 because one stale sidecar remains.
    fs.writeFileSync(
      path.join(sessions, 'a.jsonl.lock'),
      JSON.stringify({ pid: dead, createdAt: new Date().toISOString() }),
    )
    if (root) fs.chmodSync(path.join(sessions, 'a.jsonl.lock'), 0o666)
    const doctor = run([process.execPath, path.join(__dirname, '..', 'cli.js'), 'doctor', '--fix'])
    assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr)
    assert.doesNotMatch(doctor.stderr, /at removeIfStale|Error:/)
    assert.match(doctor.stdout, /error\s+unknown.*EACCES.*b\.jsonl\.lock/)
    assert.match(doctor.stdout, /removed\s+legacy.*a\.jsonl\.lock/)
  },
)
