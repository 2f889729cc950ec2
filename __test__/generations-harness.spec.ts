// The harness that runs published OpenClaw releases' own session write lock next to this package: each
// generation is prepared from the npm registry (scripts/openclaw-generations.js) and driven through
// generation-child.mjs with the Node it needs. A smoke test of the harness itself; the interop specs
// build on it. Without the registry these tests fail: they do not skip.

import assert from 'node:assert/strict'
import fs from 'node:fs'
import { test } from 'node:test'
import { GENERATIONS, ensureGeneration, satisfies, type Generation } from '../scripts/openclaw-generations.js'
import { generationChild, tempSession, type ChildEvent } from './helpers'

// Start preparing every generation at once; each test waits for its own.
const prepared = new Map(GENERATIONS.map((g) => [g.version, ensureGeneration(g.version)]))

async function holdThenContend(t: Parameters<typeof generationChild>[0], gen: Generation | 'ours', label: string) {
  const { file, lockPath } = tempSession(t)
  const holder = generationChild(t, gen, ['hold', file, '10000'])
  const held = await holder.waitFor('held')
  assert.equal(held.generation, label)
  assert.ok(fs.existsSync(lockPath), 'the holder has a sidecar')

  const waiter = generationChild(t, gen, ['acquire', file, '300'])
  const failed: ChildEvent = await waiter.waitFor('error')
  assert.equal(await waiter.exited, 0)
  assert.match(String(failed.message), /^session file locked \(timeout 300ms\)/)
  assert.match(String(failed.message), new RegExp(`pid=${holder.pid}\\b`))
  assert.ok(Number(failed.waitedMs) >= 250, `gave up after ${failed.waitedMs}ms, not about 300ms`)

  holder.send('release')
  await holder.waitFor('released')
  assert.equal(await holder.exited, 0)

  const next = generationChild(t, gen, ['acquire', file, '300'])
  await next.waitFor('acquired')
  assert.equal(await next.exited, 0)
  assert.ok(!fs.existsSync(lockPath), 'released: no sidecar left')
}

for (const { name, version } of GENERATIONS) {
  test(`openclaw@${version}: hold, a waiter times out, then the lock is free again`, async (t) => {
    const gen = await prepared.get(version)!
    assert.equal(gen.name, name)
    assert.ok(gen.exports.includes('acquireSessionWriteLock'))
    assert.ok(satisfies(gen.nodeVersion, gen.engines), `${gen.nodeVersion} is in engines.node ${gen.engines}`)
    await holdThenContend(t, gen, name)
  })
}

test('ours: the same child runs this package through the legacy API', async (t) => {
  await holdThenContend(t, 'ours', 'ours')
})
