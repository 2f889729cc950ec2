// Scoped JSONL helpers: appends, repair, rollback, rewrite, durability, onError, the watchdog, notices.

import assert from 'node:assert/strict'
import { AsyncResource } from 'node:async_hooks'
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import {
  appendSessionEntries,
  appendSessionEntriesSync,
  sessionLockStats,
  withSessionWriteLock,
  SessionWriteLockLostError,
} from '../index.js'
import { BOUNDED, expectWarnings, FIXTURES, lockChild, sleep, tempSession, UNDER_WINE } from './helpers'

const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n')

test('8 processes x 500 appends, async and sync mixed: 4000 valid lines, each call contiguous', async (t) => {
  const { file } = tempSession(t)
  const children = Array.from({ length: 8 }, () => lockChild(t, ['append', file, String((500 / 3 + 1) | 0)]))
  for (const c of children) assert.equal(await c.exited, 0, c.stderr)
  const all = lines(file)
  assert.equal(all.pop(), '', 'ends with a newline')
  const entries = all.map((l) => JSON.parse(l))
  const calls = 167
  assert.equal(entries.length, 8 * calls * 3)
  for (let i = 0; i < entries.length; i += 3) {
    const [a, b, c] = entries.slice(i, i + 3)
    assert.deepEqual([a.k, b.k, c.k], [0, 1, 2], `call split at line ${i + 1}`)
    assert.ok(
      a.pid === b.pid && b.pid === c.pid && a.call === b.call && b.call === c.call,
      `interleaved at line ${i + 1}`,
    )
  }
})

test('a SIGKILL in the middle of a multi-megabyte append is repaired by the next append', async (t) => {
  const { file } = tempSession(t)
  // Wine reports a killed process gone while its last write may still be landing.
  if (UNDER_WINE) return t.skip('Wine signals a killed process before its in-flight write returns')
  const before = Array.from({ length: 50 }, (_, i) => ({ i }))
  await appendSessionEntries(file, before)
  const size = fs.statSync(file).size
  const child = lockChild(t, ['append-big', file, '64'])
  await child.waitFor('appending')
  // Kill as soon as the big write is visibly under way.
  while (fs.statSync(file).size < size + 1024 * 1024) {
    if (child.events.some((e) => e.event === 'appended')) break
    await sleep(0)
  }
  child.kill('SIGKILL')
  await child.exited
  const torn = !fs.readFileSync(file).subarray(-1).equals(Buffer.from('\n'))
  const warnings = expectWarnings(t, ['SESSION_TRANSCRIPT_REPAIRED'])
  const r = await appendSessionEntries(file, { after: true })
  if (torn) {
    assert.equal(r.repair, 'quarantined')
    assert.ok(fs.existsSync(r.quarantinePath!), 'the torn fragment is kept aside')
    assert.equal(warnings.length, 1)
  }
  const all = lines(file)
  assert.equal(all.pop(), '')
  const parsed = all.map((l) => JSON.parse(l)) // every line is whole JSON
  assert.deepEqual(parsed.slice(0, 50), before, 'every complete line before the crash survives')
  assert.deepEqual(parsed.at(-1), { after: true })
})

test('a torn tail that is valid JSON is completed; an invalid one is moved aside', async (t) => {
  const { file } = tempSession(t)
  const warnings = expectWarnings(t, ['SESSION_TRANSCRIPT_REPAIRED'])
  fs.writeFileSync(file, '{"a":1}\n{"b":2}')
  const before = sessionLockStats().repairs
  assert.equal((await appendSessionEntries(file, { c: 3 })).repair, 'completed')
  assert.equal(fs.readFileSync(file, 'utf8'), '{"a":1}\n{"b":2}\n{"c":3}\n')
  fs.appendFileSync(file, '{"d":')
  const r = await appendSessionEntries(file, { e: 5 })
  assert.equal(r.repair, 'quarantined')
  assert.equal(fs.readFileSync(r.quarantinePath!, 'utf8'), '{"d":')
  assert.match(path.basename(r.quarantinePath!), /^session\.jsonl\.corrupt-/)
  assert.equal(fs.readFileSync(file, 'utf8'), '{"a":1}\n{"b":2}\n{"c":3}\n{"e":5}\n')
  assert.equal(sessionLockStats().repairs, before + 2)
  assert.deepEqual(
    warnings.map((w) => /\((completed|quarantined)/.exec(w.message)?.[1]),
    ['completed', 'quarantined'],
  )
})

test('a write that fails (file size limit) is rolled back: no partial line, lock released', async (t) => {
  const { file, lockPath } = tempSession(t)
  await appendSessionEntries(file, { first: true })
  const size = fs.statSync(file).size
  const script = path.join(FIXTURES, 'lock-child.js')
  if (process.platform === 'win32') return t.skip('needs a shell with ulimit -f (RLIMIT_FSIZE)')
  const child = spawnSync(
    'sh',
    ['-c', `ulimit -f 64 && exec "${process.execPath}" "${script}" append-fsize "${file}" 200000`],
    {
      encoding: 'utf8',
      ...BOUNDED,
    },
  )
  const ev = JSON.parse(child.stdout.trim().split('\n').pop()!)
  assert.equal(ev.event, 'error', child.stdout + child.stderr)
  assert.equal(ev.code, 'EFBIG')
  assert.equal(ev.path, file)
  assert.equal(fs.statSync(file).size, size, 'the partial write was cut back')
  assert.equal(fs.existsSync(lockPath), false)
})

test('entries that cannot be serialized reject with a TypeError and write nothing', async (t) => {
  const { file, dir } = tempSession(t)
  const circular: Record<string, unknown> = {}
  circular.self = circular
  for (const bad of [{ n: 1n }, [{ ok: 1 }, circular], undefined, () => {}]) {
    const err = await appendSessionEntries(file, bad).catch((e: any) => e)
    assert.ok(err instanceof TypeError, String(err))
    assert.equal((err as { code?: string }).code, 'ERR_INVALID_ARG_VALUE')
  }
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written, no sidecar left')
})

test('the lock object: append, read (skipping a torn tail), rewrite, and death after the callback', async (t) => {
  const { file } = tempSession(t)
  let kept: any
  await withSessionWriteLock(file, {}, (lock) => {
    kept = lock
    const r = lock.append([{ n: 1 }, { n: 2 }])
    assert.deepEqual([r.entries, r.offset], [2, 0])
    assert.deepEqual(lock.read(), [{ n: 1 }, { n: 2 }])
    fs.appendFileSync(file, '{"torn":')
    assert.deepEqual(lock.read(), [{ n: 1 }, { n: 2 }], 'the unterminated fragment is skipped')
    lock.rewrite([{ n: 3 }])
    assert.deepEqual(lock.read(), [{ n: 3 }])
  })
  assert.throws(() => kept.append({ late: true }), SessionWriteLockLostError)
  assert.throws(() => kept.rewrite([]), { code: 'SESSION_WRITE_LOCK_LOST' })
  assert.throws(() => kept.assertHeld(), { code: 'SESSION_WRITE_LOCK_LOST' })
  fs.writeFileSync(file, '{"a":1}\nnot json\n{"b":2}\n')
  const err = await withSessionWriteLock(file, {}, (lock) => lock.read()).catch((e) => e)
  assert.equal(err.code, 'SESSION_TRANSCRIPT_CORRUPT')
  assert.equal(err.line, 2)
  assert.equal(err.path, path.resolve(file))
})

test('rewrite is atomic: a concurrent reader only ever sees the old file or the new one', async (t) => {
  const { dir, file } = tempSession(t)
  const a = Array.from({ length: 2000 }, (_, i) => ({ v: 'a', i }))
  const b = Array.from({ length: 700 }, (_, i) => ({ v: 'b', i, pad: 'p'.repeat(50) }))
  const text = (xs: object[]) => xs.map((x) => `${JSON.stringify(x)}\n`).join('')
  await withSessionWriteLock(file, {}, (lock) => lock.rewrite(a))
  // The two versions go through files: inline they would pass Windows' 32 KiB command-line limit.
  const [fa, fb] = [path.join(dir, 'a.expected'), path.join(dir, 'b.expected')]
  fs.writeFileSync(fa, text(a))
  fs.writeFileSync(fb, text(b))
  const reader = spawn(process.execPath, [
    '-e',
    `const fs = require('fs'); const ok = new Set([fs.readFileSync(${JSON.stringify(fa)}, 'utf8'), fs.readFileSync(${JSON.stringify(fb)}, 'utf8')]);
     let reads = 0, bad = 0; const end = Date.now() + 800;
     let busy = 0;
     while (Date.now() < end) {
       let s;
       // Windows (and Wine) may refuse an open for an instant while the name is being replaced: that is
       // a read that did not happen, not a partial file.
       try { s = fs.readFileSync(${JSON.stringify(file)}, 'utf8') } catch (e) { if (['EPERM', 'EBUSY', 'EACCES', 'ENOENT'].includes(e.code)) { busy++; continue } throw e }
       reads++; if (!ok.has(s)) bad++
     }
     console.log(JSON.stringify({ reads, bad, busy }))`,
  ])
  let out = ''
  reader.stdout.on('data', (c) => (out += c))
  const done = new Promise((r) => reader.on('exit', r))
  let flips = 0
  const until = Date.now() + 700
  while (Date.now() < until) {
    await withSessionWriteLock(file, {}, (lock) => lock.rewrite(flips++ % 2 ? a : b))
  }
  await done
  const { reads, bad } = JSON.parse(out)
  assert.ok(reads > 10 && flips > 10, `reads ${reads}, flips ${flips}`)
  assert.equal(bad, 0, 'a reader saw a mixed or partial file')
})

test('each durability mode writes, and data/full really sync (seen with strace when available)', async (t) => {
  const { file } = tempSession(t)
  for (const durability of ['none', 'data', 'full'] as const) {
    await appendSessionEntries(file, { durability }, { durability })
  }
  assert.deepEqual(
    lines(file)
      .filter(Boolean)
      .map((l) => JSON.parse(l).durability),
    ['none', 'data', 'full'],
  )
  const bad = await appendSessionEntries(file, {}, { durability: 'always' as any }).catch((e) => e)
  assert.equal(bad.code, 'ERR_INVALID_ARG_VALUE')
  if (spawnSync('strace', ['-V']).status !== 0) return t.skip('strace not installed')
  const index = path.join(__dirname, '..', 'index.js')
  const traced = (mode: string) =>
    spawnSync(
      'strace',
      [
        '-f',
        '-e',
        'trace=fsync,fdatasync',
        process.execPath,
        '-e',
        `require(${JSON.stringify(index)}).appendSessionEntriesSync(${JSON.stringify(file)} + '.${mode}', { x: 1 }, { durability: '${mode}' })`,
      ],
      { encoding: 'utf8', ...BOUNDED },
    ).stderr
  assert.doesNotMatch(traced('none'), /fsync|fdatasync/)
  assert.match(traced('data'), /fdatasync\(/)
  assert.equal((traced('full').match(/fsync\(/g) ?? []).length, 2, 'the file, and its new directory entry')
})

test('onError writes the error entry under the same lock, and the caller gets the original error', async (t) => {
  const { file } = tempSession(t)
  const quota = Object.assign(new Error('Model API quota exceeded'), { code: 'QUOTA' })
  let intruder!: Promise<unknown>
  // Another channel's append, from outside the holder's async context (so it queues, not re-enters).
  const otherChannel = AsyncResource.bind(() => appendSessionEntries(file, { type: 'other-channel' }))
  const err = await withSessionWriteLock(
    file,
    {
      onError: async (e: any, lock) => {
        await sleep(20) // a concurrent appender must still not get in first
        lock.append({ type: 'error', message: e.message })
      },
    },
    async (lock) => {
      lock.append({ type: 'user', text: 'hi' })
      intruder = otherChannel()
      throw quota
    },
  ).catch((e) => e)
  assert.equal(err, quota)
  await intruder
  assert.deepEqual(
    lines(file)
      .filter(Boolean)
      .map((l) => JSON.parse(l).type),
    ['user', 'error', 'other-channel'],
  )
})

test('the watchdog revokes a hold past maxHoldMs within a second: waiters proceed, the old lock is dead', async (t) => {
  const { file } = tempSession(t)
  const revoked: Error[] = []
  const before = sessionLockStats().revocations
  let lockRef: any
  const started = Date.now()
  const holding = withSessionWriteLock(file, { maxHoldMs: 300, onRevoked: (e) => revoked.push(e) }, async (lock) => {
    lockRef = lock
    await new Promise((resolve) => lock.signal.addEventListener('abort', resolve))
    return Date.now() - started
  })
  const waiter = lockChild(t, ['acquire', file, '5000'])
  const got = await waiter.waitFor('acquired')
  const abortedAfter = await holding
  assert.ok(abortedAfter >= 300 && abortedAfter < 1300, `revoked after ${abortedAfter} ms`)
  assert.ok(Number(got.waitedMs) < 3000)
  assert.equal(revoked.length, 1)
  assert.equal((revoked[0] as any).code, 'SESSION_WRITE_LOCK_LOST')
  assert.match((lockRef.signal.reason as Error).message, /maxHoldMs \(300 ms\)/)
  assert.throws(() => lockRef.append({ late: true }), { code: 'SESSION_WRITE_LOCK_LOST' })
  assert.equal(sessionLockStats().revocations, before + 1)
})

test('a long wait produces one notice naming the holder, its kind and how long it has held', async (t) => {
  const { file } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const notices: any[] = []
  const waiting = withSessionWriteLock(file, { noticeAfterMs: 100, onWait: (n) => notices.push(n) }, () => 'done')
  await sleep(400)
  holder.send('release')
  assert.equal(await waiting, 'done')
  assert.equal(notices.length, 1)
  assert.equal(notices[0].owner.pid, holder.pid)
  assert.equal(notices[0].owner.kind, 'kernel')
  assert.ok(notices[0].owner.heldForMs >= 100)
  assert.ok(notices[0].waitedMs >= 100)
})

test('the sync twin appends under the lock and returns what it wrote', (t) => {
  const { file, lockPath } = tempSession(t)
  const r = appendSessionEntriesSync(file, [{ a: 1 }, { b: 2 }])
  assert.deepEqual([r.entries, r.offset, r.bytes], [2, 0, 16])
  assert.equal(fs.existsSync(lockPath), false)
})
