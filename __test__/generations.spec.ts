// This package next to the published code of each OpenClaw generation (2026.2.17, 2026.4.15, 2026.5.22,
// 2026.7.1; scripts/openclaw-generations.js fetches them from the npm registry), in separate processes
// on the same session: exclusion both ways, waits and handoffs, SIGKILL takeovers each way, each
// generation's cleaner and doctor against our held sidecar, its resolvers against ours, its error
// detectors against our errors, and the stale rules that differ. Timings are reported as diagnostics.
//
// Every child that holds or waits is given a command line that looks like OpenClaw's (an argument
// `openclaw`): 2026.5+ take over the live hold of any other process (see the last tests).

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import * as ours from '../index.js'
import { GENERATIONS, ensureGeneration, type Generation } from '../scripts/openclaw-generations.js'
import {
  type Child,
  type ChildEvent,
  deadPid,
  generationChild,
  livePid,
  lockChild,
  sleep,
  tempSession,
} from './helpers'

type T = Parameters<typeof tempSession>[0]

const prepared = new Map(GENERATIONS.map((g) => [g.name, ensureGeneration(g.version)]))
for (const p of prepared.values()) p.catch(() => {}) // each test that needs it fails with the reason
const generation = (name: string) => prepared.get(name)!

const now = () => performance.timeOrigin + performance.now()
const iso = (agoMs = 0) => new Date(Date.now() - agoMs).toISOString()
const HOUR = 3_600_000

function plant(lockPath: string, payload: unknown, mtimeAgoMs = 0) {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true })
  fs.writeFileSync(lockPath, typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2))
  if (mtimeAgoMs) fs.utimesSync(lockPath, new Date(Date.now() - mtimeAgoMs), new Date(Date.now() - mtimeAgoMs))
}

/** Our drop-in holding `file` in a child whose command line looks like OpenClaw's, with an `owner`. */
async function ourHolder(t: T, file: string) {
  const holder = generationChild(t, 'ours', ['hold', file, '10000'], { env: { SWL_TEST_OWNER: 'run-1 (telegram)' } })
  await holder.waitFor('held')
  return holder
}

/** The outcome of one acquisition attempt by a child of `gen`. */
async function attempt(t: T, gen: Generation | 'ours', file: string, timeoutMs: number, staleMs?: number) {
  const child = generationChild(t, gen, ['acquire', file, String(timeoutMs), ...(staleMs ? [String(staleMs)] : [])])
  await child.exited
  const ev = child.events.find((e) => e.event === 'acquired' || e.event === 'error')
  assert.ok(ev, `no outcome: ${child.stderr} ${JSON.stringify(child.events)}`)
  return ev
}

async function exitedOk(child: Child) {
  const code = await child.exited
  assert.equal(code, 0, `${child.stderr} ${JSON.stringify(child.events)}`)
}

const ms = (x: number) => `${x.toFixed(1)} ms`

for (const { name, version } of GENERATIONS) {
  const label = `openclaw@${version}`

  test(`${label} and ours exclude each other: mixed contention, both of our APIs`, async (t) => {
    const gen = await generation(name)
    const { file, dir } = tempSession(t)
    const witness = path.join(dir, 'witness')
    fs.writeFileSync(witness, '0')
    const each = 10
    // 2026.2 processes break exclusion among themselves (a waiter deletes a sidecar that is not written
    // yet): one of them, so that every overlap the witness could see would involve us.
    const theirs = name === '2026.2' ? 1 : 2
    const children = [
      ...Array.from({ length: theirs }, () => generationChild(t, gen, ['contend', file, String(each), witness])),
      generationChild(t, 'ours', ['contend', file, String(each), witness]),
      lockChild(t, ['contend', file, String(each), witness, 'openclaw']),
    ]
    for (const c of children) await exitedOk(c)
    const overlaps = fs.existsSync(`${witness}.overlaps`) ? fs.readFileSync(`${witness}.overlaps`, 'utf8') : ''
    assert.equal(overlaps, '', 'two holders were inside at once')
    const total = children.length * each
    assert.equal(Number(fs.readFileSync(witness, 'utf8')), total, 'an increment was lost')
    const lines = fs.readFileSync(file, 'utf8').split('\n')
    assert.equal(lines.pop(), '', 'the transcript ends with a whole line')
    const impls = lines.map((l) => JSON.parse(l).impl)
    assert.equal(impls.length, total)
    assert.deepEqual(new Set(impls), new Set([name, 'ours', 'native']))
    assert.equal(fs.existsSync(`${file}.lock`), false)
  })

  test(`${label} holds: ours waits, times out naming it, and takes over the moment it lets go`, async (t) => {
    const gen = await generation(name)
    const { file, lockPath } = tempSession(t)
    const holder = generationChild(t, gen, ['hold', file, '10000', '-', '600000'])
    await holder.waitFor('held')
    const busy = await ours.withSessionWriteLock(file, { acquireTimeoutMs: 200 }, () => {}).catch((e) => e)
    assert.ok(ours.isSessionWriteLockTimeoutError(busy))
    assert.deepEqual([busy.owner.pid, busy.owner.alive, busy.owner.kind], [holder.pid, true, 'legacy'])
    assert.ok(fs.existsSync(lockPath), 'the live sidecar is left alone')
    const waiting = ours.withSessionWriteLock(file, { acquireTimeoutMs: 10_000 }, () => now())
    await sleep(100)
    const sent = now()
    holder.send('release')
    const handoff = (await waiting) - sent
    t.diagnostic(`handoff ${name} -> ours: ${ms(handoff)}`)
    assert.ok(handoff < 1000, `took ${ms(handoff)}`)
  })

  test(`ours holds: ${label} waits, times out with its own message, and gets the lock when we let go`, async (t) => {
    const gen = await generation(name)
    const { file, lockPath } = tempSession(t)
    const holder = await ourHolder(t, file)
    assert.equal(JSON.parse(fs.readFileSync(lockPath, 'utf8')).owner, 'run-1 (telegram)', 'its payload says who holds')
    const busy = await attempt(t, gen, file, 300)
    assert.equal(busy.event, 'error', 'a legacy reader ignores the fields it does not know')
    assert.match(String(busy.message), new RegExp(`^session file locked \\(timeout 300ms\\): pid=${holder.pid} `))
    assert.ok(fs.existsSync(lockPath), 'our live hold was not taken over')
    const waiter = generationChild(t, gen, ['acquire', file, '10000'])
    await waiter.waitFor('waiting')
    await sleep(150)
    const sent = now()
    holder.send('release')
    const acquired = await waiter.waitFor('acquired')
    t.diagnostic(`handoff ours -> ${name}: ${ms(acquired.t - sent)} (it polls)`)
    await exitedOk(waiter)
  })

  test(`SIGKILL each way: ours takes over a killed ${label} holder, ${label} takes over a killed holder of ours`, async (t) => {
    const gen = await generation(name)
    {
      const { file } = tempSession(t)
      const holder = generationChild(t, gen, ['hold', file, '10000'])
      await holder.waitFor('held')
      const waiting = ours.withSessionWriteLock(file, { acquireTimeoutMs: 10_000 }, () => now())
      await sleep(100)
      const killed = now()
      holder.kill('SIGKILL')
      await holder.exited
      const took = (await waiting) - killed
      t.diagnostic(`takeover of a killed ${name} holder by ours: ${ms(took)}`)
      assert.ok(took < 2000, `took ${ms(took)}`)
    }
    {
      const { file, lockPath } = tempSession(t)
      const holder = await ourHolder(t, file)
      const waiter = generationChild(t, gen, ['acquire', file, '10000'])
      await waiter.waitFor('waiting')
      await sleep(150)
      const killed = now()
      holder.kill('SIGKILL')
      await holder.exited
      const acquired = await waiter.waitFor('acquired')
      t.diagnostic(
        `takeover of a killed holder of ours by ${name}: ${ms(acquired.t - killed)} (dead pid, on its next poll)`,
      )
      await exitedOk(waiter)
      assert.equal(fs.existsSync(lockPath), false, 'and its release removed the sidecar')
    }
  })

  test(`${label}'s own cleaner${name >= '2026.5' ? ' and doctor' : ''} never remove our held sidecar`, async (t) => {
    const gen = await generation(name)
    const { dir: state } = tempSession(t)
    const sessions = path.join(state, 'agents', 'main', 'sessions')
    fs.mkdirSync(sessions, { recursive: true })
    const file = path.join(sessions, 'held.jsonl')
    const holder = await ourHolder(t, file)
    const dead = path.join(sessions, 'dead.jsonl.lock')
    plant(dead, { pid: deadPid(), createdAt: iso(1000) })
    const cleaner = generationChild(t, gen, ['clean', sessions, 'remove'])
    const { locks } = (await cleaner.waitFor('cleaned')) as ChildEvent & {
      locks: Array<{ lockPath: string; stale: boolean }>
    }
    const mine = locks.find((l) => path.basename(l.lockPath) === 'held.jsonl.lock')
    assert.equal(mine?.stale, false, JSON.stringify(mine))
    assert.ok(fs.existsSync(`${file}.lock`), 'our held sidecar survived their cleaner')
    assert.equal(fs.existsSync(dead), false, 'their cleaner does remove a dead one')
    if (name >= '2026.5') {
      plant(dead, { pid: deadPid(), createdAt: iso(1000) })
      const doctor = generationChild(t, gen, ['doctor', state, 'fix'])
      await doctor.waitFor('doctored')
      assert.ok(fs.existsSync(`${file}.lock`), 'our held sidecar survived their doctor --fix')
      assert.equal(fs.existsSync(dead), false)
    }
    holder.send('release')
    await exitedOk(holder)
  })

  test(`${label} holding longer than our staleMs is never taken over on age`, async (t) => {
    const gen = await generation(name)
    const { file, lockPath } = tempSession(t)
    // A 2026.7 holder may hold past staleMs (its maxHoldMs can be higher); 2026.2 to 2026.4 runs get
    // maxHoldMs = timeout + 2 min. Our waiter's window is 300 ms; the hold is older than that.
    const holder = generationChild(t, gen, ['hold', file, '10000', '-', '600000'])
    await holder.waitFor('held')
    const before = fs.readFileSync(lockPath, 'utf8')
    await sleep(600)
    const err = await ours
      .withSessionWriteLock(file, { staleMs: 300, acquireTimeoutMs: 800 }, () => 'two holders')
      .catch((e) => e)
    assert.equal(err.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT', String(err))
    assert.equal(fs.readFileSync(lockPath, 'utf8'), before, 'its sidecar is untouched')
    const listed = ours.inspectSessionLocks(path.dirname(lockPath), { staleMs: 300 })[0]
    assert.deepEqual([listed.stale, listed.staleReasons], [false, ['too-old']], 'reported, not acted on')
    holder.send('release')
    await exitedOk(holder)
  })
}

test('our errors pass every detector of 2026.5+, and match the message of 2026.2 and 2026.4', async (t) => {
  const { file } = tempSession(t)
  const holder = await ourHolder(t, file)
  for (const name of ['2026.5', '2026.7']) {
    const gen = await generation(name)
    const child = generationChild(t, gen, ['classify-ours', file])
    const { guards, results } = (await child.waitFor('classified')) as ChildEvent & {
      guards: string[]
      results: Array<Record<string, unknown>>
    }
    assert.deepEqual(
      guards,
      name === '2026.5' ? ['isSessionWriteLockTimeoutError'] : ['isSessionWriteLockAcquireError'],
    )
    assert.equal(results.length, 3)
    for (const r of results) {
      assert.equal(r.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
      for (const g of guards) assert.equal(r[g], true, `${name} ${g} on our ${r.from}`)
    }
  }
  // 2026.2 and 2026.4 throw a plain Error, recognised by its message: ours starts the same way.
  const mine = await ours.acquireSessionWriteLock({ sessionFile: file, timeoutMs: 50 }).catch((e) => e)
  const shape = /^session file locked \(timeout 50ms\): pid=\d+ /
  assert.match(mine.message, shape)
  const { file: other } = tempSession(t, 'other.jsonl')
  for (const name of ['2026.2', '2026.4']) {
    const theirs = generationChild(t, await generation(name), ['hold', other, '10000'])
    await theirs.waitFor('held')
    const busy = await attempt(t, await generation(name), other, 50)
    assert.match(String(busy.message), shape, `${name}'s own message`)
    theirs.send('release')
    await exitedOk(theirs)
  }
  holder.send('release')
})

test('our resolvers answer as 2026.7 on a matrix of config and env, and as 2026.5 wherever the two agree', async (t) => {
  const v5 = await generation('2026.5')
  const v7 = await generation('2026.7')
  const key = (k: string) => `OPENCLAW_SESSION_WRITE_LOCK_${k}_MS`
  const standIn = ($: 'Infinity' | 'NaN' | 'undefined') => ({ $ }) // a value JSON cannot carry (generation-child.mjs)
  const values = [5000, 0, -1, 1.5, 2 ** 53, standIn('Infinity'), standIn('NaN'), '5000', 'Infinity', null, true]
  const envValues = [
    '7000',
    ' 7000 ',
    '1e4',
    '0x10',
    '1.5',
    '+5',
    'Infinity',
    '-5',
    '0',
    '',
    'abc',
    '9007199254740993',
    '00042',
  ]
  const configs: unknown[] = [standIn('undefined'), null, {}, { session: {} }, { session: { writeLock: null } }]
  for (const v of values) configs.push({ session: { writeLock: { acquireTimeoutMs: v, staleMs: v, maxHoldMs: v } } })
  const envs: unknown[] = [{}]
  for (const v of envValues) envs.push({ [key('ACQUIRE_TIMEOUT')]: v, [key('STALE')]: v, [key('MAX_HOLD')]: v })
  const cases: Array<{ fn: string; args: unknown[] }> = []
  for (const config of configs) {
    for (const env of envs) {
      cases.push({ fn: 'resolveSessionWriteLockAcquireTimeoutMs', args: [config, env] })
      cases.push({ fn: 'resolveSessionWriteLockStaleMs', args: [config, env] })
      cases.push({ fn: 'resolveSessionWriteLockMaxHoldMs', args: [config, { env, fallback: 123_000 }] })
      cases.push({ fn: 'resolveSessionWriteLockOptions', args: [config, { env, maxHoldMsFallback: 456_000 }] })
    }
  }
  for (const timeoutMs of [600_000, 1000, 0, -1, standIn('Infinity'), standIn('NaN'), 1e12, standIn('undefined')]) {
    for (const graceMs of [standIn('undefined'), 5, 0]) {
      for (const minMs of [standIn('undefined'), 10, -3])
        cases.push({ fn: 'resolveSessionLockMaxHoldFromTimeout', args: [{ timeoutMs, graceMs, minMs }] })
    }
  }
  const run = async (gen: Generation | 'ours') => {
    const child = generationChild(t, gen, ['resolve', '-'])
    child.send(JSON.stringify(cases))
    const { results } = (await child.waitFor('resolved')) as ChildEvent & { results: Array<Record<string, unknown>> }
    await exitedOk(child)
    return results
  }
  const [mine, five, seven] = await Promise.all([run('ours'), run(v5), run(v7)])
  let compared7 = 0
  let compared5 = 0
  const divergent5: string[] = []
  cases.forEach((c, i) => {
    const what = `${c.fn}(${JSON.stringify(c.args)})`
    if (!seven[i].missing) {
      assert.deepEqual(mine[i], seven[i], `2026.7: ${what}`)
      compared7++
    }
    if (five[i].missing) return
    if (seven[i].missing || JSON.stringify(five[i]) === JSON.stringify(seven[i])) {
      const sameRules = seven[i].missing ? JSON.stringify(mine[i]) === JSON.stringify(five[i]) : true
      if (sameRules) {
        assert.deepEqual(mine[i], five[i], `2026.5: ${what}`)
        compared5++
        return
      }
    }
    divergent5.push(what)
  })
  // Where ours differs from 2026.5, the input is one that 2026.7 reads differently too: an environment
  // value that is not all digits, or a value that is not a positive safe integer.
  const documented = /"(?: 7000 |1e4|0x10|1\.5|\+5|9007199254740993)"|1\.5|9007199254740992/
  assert.deepEqual(
    divergent5.filter((d) => !documented.test(d)),
    [],
    'undocumented divergences from 2026.5',
  )
  t.diagnostic(
    `${compared7} cases equal to 2026.7, ${compared5} equal to 2026.5, ${divergent5.length} documented divergences from 2026.5`,
  )
  assert.ok(compared7 > 300 && compared5 > 300)
})

test("our cleaner never removes what any generation's cleaner keeps", async (t) => {
  const { dir } = tempSession(t)
  const live = livePid(t)
  const dead = deadPid()
  const cases: Record<string, [unknown, number]> = {
    'dead.jsonl.lock': [{ pid: dead, createdAt: iso(1000) }, 0],
    'live.jsonl.lock': [{ pid: live, createdAt: iso(1000) }, 0],
    'live-old.jsonl.lock': [{ pid: live, createdAt: iso(HOUR) }, HOUR],
    'hold-young.jsonl.lock': [{ pid: live, createdAt: iso(5000), maxHoldMs: 1000 }, 5000],
    'hold-old.jsonl.lock': [{ pid: live, createdAt: iso(200_000), maxHoldMs: 1000 }, 200_000],
    'empty.jsonl.lock': ['', 0],
    'empty-old.jsonl.lock': ['', 60_000],
    'junk.jsonl.lock': ['{"pid":', 0],
    'junk-old.jsonl.lock': ['{"pid":', HOUR],
    'no-date.jsonl.lock': [{ pid: live }, 0],
    'recycled.jsonl.lock': [{ pid: live, createdAt: iso(1000), starttime: 123456789 }, 0],
    'crashed-ours.jsonl.lock': [{ pid: dead, createdAt: iso(), kernelLock: true, acquiredAt: iso() }, 0],
  }
  const fill = () => {
    for (const [name, [payload, age]] of Object.entries(cases)) plant(path.join(dir, name), payload, age)
  }
  fill()
  const mine = await ours.cleanStaleLockFiles({ sessionsDir: dir, removeStale: false })
  const oursRemoves = new Set(mine.locks.filter((l) => l.stale).map((l) => path.basename(l.lockPath)))
  for (const { name } of GENERATIONS) {
    fill()
    const cleaner = generationChild(t, await generation(name), ['clean', dir, 'report'])
    const { locks } = (await cleaner.waitFor('cleaned')) as ChildEvent & {
      locks: Array<{ lockPath: string; stale: boolean; removable?: boolean }>
    }
    const theyRemove = new Set(locks.filter((l) => l.removable ?? l.stale).map((l) => path.basename(l.lockPath)))
    // 2026.2 wrote and read no start times, so it cannot see that the process behind a recycled pid is a
    // different one; the sidecar's writer is gone all the same.
    const bolder = [...oursRemoves].filter(
      (n) => !theyRemove.has(n) && !(name === '2026.2' && n === 'recycled.jsonl.lock'),
    )
    assert.deepEqual(bolder, [], `ours would remove what ${name}'s cleaner keeps`)
    t.diagnostic(`${name} removes ${[...theyRemove].sort().join(', ')}`)
  }
  t.diagnostic(`ours removes ${[...oursRemoves].sort().join(', ')}`)
  const expected = ['crashed-ours.jsonl.lock', 'dead.jsonl.lock', 'empty-old.jsonl.lock', 'junk-old.jsonl.lock']
  if (process.platform === 'linux') expected.push('recycled.jsonl.lock') // start times are Linux's /proc
  assert.deepEqual([...oursRemoves].sort(), expected.sort())
})

for (const name of ['2026.5', '2026.7']) {
  test(`${name} takes over the live hold of a process not named like OpenClaw; ours fences that hold`, async (t) => {
    const gen = await generation(name)
    const { file } = tempSession(t)
    // lock-child.js with no `openclaw` argument: a worker or script, not the gateway.
    const holder = lockChild(t, ['hold-append', file])
    await holder.waitFor('held')
    const ev = await attempt(t, gen, file, 5000)
    assert.equal(ev.event, 'acquired', `${name} treats our live holder as non-openclaw-owner`)
    holder.send('append')
    const refused = await holder.waitFor('append-error')
    assert.deepEqual([refused.code, refused.aborted], ['SESSION_WRITE_LOCK_LOST', true])
    holder.send('release')
    await exitedOk(holder)
    assert.equal(
      fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '',
      '',
      'nothing was written through the lost hold',
    )
  })
}
