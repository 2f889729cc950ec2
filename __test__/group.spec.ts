// Group commit: appendSessionEntries calls of one process on one session, made before the first of them
// holds the lock, share one hold and one contiguous write. What is asserted is the behaviour (order,
// contiguity, per-caller results, what is and is not grouped, failures shared); the speed is the bench's.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import * as api from '../index.js'
import { BOUNDED, FIXTURES, lockChild, sleep, tempSession } from './helpers'

const acquisitions = () => api.sessionLockStats().acquisitions

/** The transcript's lines, parsed. */
const lines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))

test('calls made together share one hold and one write; each caller gets its own offset and bytes', async (t) => {
  const { file } = tempSession(t)
  fs.writeFileSync(file, '{"before":true}\n')
  const before = acquisitions()
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, caller) =>
      api.appendSessionEntries(
        file,
        [0, 1, 2].map((n) => ({ caller, n, pad: 'x'.repeat(caller) })),
      ),
    ),
  )
  assert.equal(acquisitions() - before, 1, 'one acquisition for the fifty calls')
  const text = fs.readFileSync(file)
  results.forEach((r, caller) => {
    assert.equal(r.entries, 3)
    // The caller's own lines, exactly, at its own offset: contiguous and in the order of the calls.
    const own = text
      .subarray(r.offset, r.offset + r.bytes)
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.deepEqual(
      own.map((e) => [e.caller, e.n]),
      [
        [caller, 0],
        [caller, 1],
        [caller, 2],
      ],
    )
    if (caller > 0) assert.equal(r.offset, results[caller - 1].offset + results[caller - 1].bytes)
  })
  assert.equal(results[0].offset, '{"before":true}\n'.length)
  assert.equal(lines(file).length, 1 + 150)
})

test('calls made while the batch waits for another process join it, in the order they were made', async (t) => {
  const { file } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const before = acquisitions()
  const pending: Array<Promise<api.AppendResult>> = []
  for (let i = 0; i < 10; i++) {
    pending.push(api.appendSessionEntries(file, { i }))
    await sleep(10) // separate ticks: they meet only because the first is still waiting
  }
  holder.send('release')
  const results = await Promise.all(pending)
  assert.equal(acquisitions() - before, 1)
  assert.deepEqual(
    lines(file).map((e) => e.i),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  )
  assert.deepEqual(
    results.map((r) => r.offset),
    [...results.keys()].map((i) => results[0].offset + i * results[0].bytes),
  )
})

test('calls whose options differ are never merged; a call with a signal or a hook stays on its own', async (t) => {
  const { file } = tempSession(t)
  const before = acquisitions()
  const { signal } = new AbortController()
  const calls = [
    api.appendSessionEntries(file, { g: 'plain', n: 0 }),
    api.appendSessionEntries(file, { g: 'data', n: 0 }, { durability: 'data' }),
    api.appendSessionEntries(file, { g: 'plain', n: 1 }),
    api.appendSessionEntries(file, { g: 'timeout', n: 0 }, { acquireTimeoutMs: 5000 }),
    api.appendSessionEntries(file, { g: 'data', n: 1 }, { durability: 'data' }),
    api.appendSessionEntries(file, { g: 'owner', n: 0 }, { owner: 'cron' }),
    api.appendSessionEntries(file, { g: 'signal', n: 0 }, { signal }),
    api.appendSessionEntries(file, { g: 'signal', n: 1 }, { signal }),
    api.appendSessionEntries(file, { g: 'hook', n: 0 }, { onWait: () => {} }),
  ]
  await Promise.all(calls)
  // plain, data, timeout and owner are a batch each; each signal or hook call is its own hold.
  assert.equal(acquisitions() - before, 4 + 3)
  const order = lines(file).map((e) => `${e.g}${e.n}`)
  for (const g of ['plain', 'data']) {
    const at = order.indexOf(`${g}0`)
    assert.equal(order[at + 1], `${g}1`, `${g}: one batch, contiguous (${order})`)
  }
})

test('a failed write fails every call of the batch with the same error, and is rolled back whole', (t) => {
  if (process.platform === 'win32') return t.skip('needs a shell with ulimit -f (RLIMIT_FSIZE)')
  const { file, lockPath } = tempSession(t)
  fs.writeFileSync(file, '{"kept":true}\n')
  const script = path.join(FIXTURES, 'lock-child.js')
  // 32 KiB allowed; five calls of 10 KB each fit one by one, but not as the one write they share.
  const r = spawnSync(
    'sh',
    ['-c', `ulimit -f 64 && exec "${process.execPath}" "${script}" append-group-fsize "${file}" 5 10000`],
    { encoding: 'utf8', ...BOUNDED },
  )
  const ev = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
  assert.deepEqual(ev.codes, ['EFBIG', 'EFBIG', 'EFBIG', 'EFBIG', 'EFBIG'], r.stdout + r.stderr)
  assert.equal(ev.sameError, true)
  assert.equal(ev.acquisitions, 1)
  assert.equal(fs.readFileSync(file, 'utf8'), '{"kept":true}\n', 'nothing of the batch is left')
  assert.equal(fs.existsSync(lockPath), false)
})

test('a batch that cannot get the lock fails all its calls with the one timeout, writing nothing', async (t) => {
  const { file } = tempSession(t)
  const holder = lockChild(t, ['hold', file])
  await holder.waitFor('held')
  const outcomes = await Promise.allSettled(
    Array.from({ length: 5 }, (_, i) => api.appendSessionEntries(file, { i }, { acquireTimeoutMs: 50 })),
  )
  const errors = outcomes.map((o) => (o as PromiseRejectedResult).reason)
  assert.ok(errors[0] instanceof api.SessionWriteLockTimeoutError)
  assert.ok(errors.every((e) => e === errors[0]))
  assert.equal(fs.existsSync(file), false)
  // The next call is a batch of its own, not the failed one.
  holder.send('release')
  await holder.exited
  assert.equal((await api.appendSessionEntries(file, { after: true })).offset, 0)
})

test('a batch stops at 8 MiB: larger ones become consecutive writes, still in call order', async (t) => {
  const { file } = tempSession(t)
  const before = acquisitions()
  const big = 'b'.repeat(3 * 2 ** 20)
  const results = await Promise.all([0, 1, 2, 3].map((i) => api.appendSessionEntries(file, { i, big })))
  assert.equal(acquisitions() - before, 2, 'two of 3 MiB per batch')
  assert.deepEqual(
    lines(file).map((e) => e.i),
    [0, 1, 2, 3],
  )
  assert.deepEqual(
    results.map((r) => r.offset),
    [0, 1, 2, 3].map((i) => i * results[0].bytes),
  )
})

test('an append not awaited before process.exit() in the same tick is still written', (t) => {
  const { file } = tempSession(t)
  const index = path.join(__dirname, '..', 'index.js')
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(index)}).appendSessionEntries(${JSON.stringify(file)}, { last: 1 }); process.exit(0)`,
    ],
    { encoding: 'utf8', ...BOUNDED },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(lines(file), [{ last: 1 }])
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['session.jsonl'], 'no sidecar left')
})
