// Configuration: openclaw.json (JSON5), the environment, configureSessionWriteLock() and per-call options,
// with their precedence, live reload and validation. Each scenario runs in a fresh process.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

import { withSessionWriteLock, SessionWriteLockConfigError } from '../index.js'
import { BOUNDED, FIXTURES, lockChild, tempSession } from './helpers'

type Ctx = Parameters<typeof tempSession>[0]
const ENV_NAMES: Record<string, string> = {
  acquireTimeoutMs: 'OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS',
  staleMs: 'OPENCLAW_SESSION_WRITE_LOCK_STALE_MS',
  maxHoldMs: 'OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS',
  noticeAfterMs: 'OPENCLAW_SESSION_WRITE_LOCK_NOTICE_AFTER_MS',
  durability: 'OPENCLAW_SESSION_WRITE_LOCK_DURABILITY',
}

/** Runs config-child.js with this environment and instruction; returns its JSON report. */
function resolveIn(env: NodeJS.ProcessEnv, instruction: object = {}) {
  const r = spawnSync(process.execPath, [path.join(FIXTURES, 'config-child.js'), JSON.stringify(instruction)], {
    encoding: 'utf8',
    ...BOUNDED,
    env: { ...process.env, ...env },
  })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

function writeConfig(t: Ctx, text: string) {
  const { dir } = tempSession(t)
  const file = path.join(dir, 'openclaw.json')
  fs.writeFileSync(file, text)
  return file
}

const fileWith = (key: string, value: string) => `{ session: { writeLock: { ${key}: ${value} } } }`

test('with nothing configured, every key has its default', () => {
  const { config, warnings } = resolveIn({})
  assert.deepEqual(Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'configPath')), {
    acquireTimeoutMs: { value: 60000, source: 'default' },
    staleMs: { value: 1800000, source: 'default' },
    maxHoldMs: { value: 300000, source: 'default' },
    noticeAfterMs: { value: 2000, source: 'default' },
    durability: { value: 'none', source: 'default' },
  })
  assert.deepEqual(warnings, [])
})

test('each source on its own, for every key', (t) => {
  const values: Record<string, [string, unknown]> = {
    acquireTimeoutMs: ['1234', 1234],
    staleMs: ['5678', 5678],
    maxHoldMs: ['91011', 91011],
    noticeAfterMs: ['1213', 1213],
    durability: ['"data"', 'data'],
  }
  for (const [key, [literal, value]] of Object.entries(values)) {
    const file = writeConfig(t, fileWith(key, literal))
    assert.deepEqual(resolveIn({ OPENCLAW_CONFIG_PATH: file }).config[key], { value, source: `file:${file}` })
    const envText = typeof value === 'string' ? value : String(value)
    assert.deepEqual(resolveIn({ [ENV_NAMES[key]]: envText }).config[key], { value, source: `env:${ENV_NAMES[key]}` })
    assert.deepEqual(resolveIn({}, { configure: { [key]: value } }).config[key], { value, source: 'configure' })
    assert.deepEqual(resolveIn({}, { call: { [key]: value } }).config[key], { value, source: 'call' })
  }
})

test('every precedence pair: call > configure > environment > file > default', (t) => {
  const file = writeConfig(t, fileWith('acquireTimeoutMs', '4'))
  const layers = {
    call: (i: object) => ({ ...i, call: { acquireTimeoutMs: 1 } }),
    configure: (i: object) => ({ ...i, configure: { acquireTimeoutMs: 2 } }),
    env: (i: object) => i,
    file: (i: object) => i,
  }
  const order = ['call', 'configure', 'env', 'file', 'default'] as const
  const expected = { call: 1, configure: 2, env: 3, file: 4, default: 60000 }
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      const [strong, weak] = [order[i], order[j]]
      const present = new Set([strong, weak])
      const env: NodeJS.ProcessEnv = {}
      if (present.has('env')) env.OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS = '3'
      if (present.has('file')) env.OPENCLAW_CONFIG_PATH = file
      let instruction = {}
      if (present.has('call')) instruction = layers.call(instruction)
      if (present.has('configure')) instruction = layers.configure(instruction)
      const got = resolveIn(env, instruction).config.acquireTimeoutMs
      assert.equal(got.value, expected[strong], `${strong} over ${weak}: ${JSON.stringify(got)}`)
    }
  }
})

test('the file is found through OPENCLAW_CONFIG_PATH, else $OPENCLAW_STATE_DIR, else ~/.openclaw', (t) => {
  const { dir: stateDir } = tempSession(t)
  fs.writeFileSync(path.join(stateDir, 'openclaw.json'), fileWith('staleMs', '111'))
  const { dir: home } = tempSession(t)
  fs.mkdirSync(path.join(home, '.openclaw'))
  fs.writeFileSync(path.join(home, '.openclaw', 'openclaw.json'), fileWith('staleMs', '222'))
  const none = { OPENCLAW_CONFIG_PATH: '' }
  assert.equal(resolveIn({ ...none, OPENCLAW_STATE_DIR: stateDir, HOME: home }).config.staleMs.value, 111)
  assert.equal(resolveIn({ ...none, OPENCLAW_STATE_DIR: '', HOME: home }).config.staleMs.value, 222)
  const explicit = writeConfig(t, fileWith('staleMs', '333'))
  const viaOption = resolveIn({ ...none, OPENCLAW_STATE_DIR: stateDir }, { call: { configPath: explicit } }).config
  assert.equal(viaOption.staleMs.value, 333)
  assert.equal(viaOption.configPath, explicit)
})

test('JSON5: comments, trailing commas, unquoted keys, single quotes and Infinity', (t) => {
  const file = writeConfig(
    t,
    `// OpenClaw gateway configuration
    {
      agents: { main: { model: 'claude' } },
      session: {
        /* the transcript lock */
        writeLock: {
          acquireTimeoutMs: Infinity,
          staleMs: 600000, // ten minutes
          durability: 'full',
        },
      },
    }`,
  )
  const { config } = resolveIn({ OPENCLAW_CONFIG_PATH: file })
  assert.equal(config.acquireTimeoutMs.value, 'Infinity')
  assert.equal(config.staleMs.value, 600000)
  assert.equal(config.durability.value, 'full')
  assert.equal(config.maxHoldMs.source, 'default')
})

test('editing openclaw.json takes effect on the next acquisition, without a restart', async (t) => {
  const { file: session } = tempSession(t)
  const configFile = writeConfig(t, fileWith('acquireTimeoutMs', '300'))
  const holder = lockChild(t, ['hold', session])
  await holder.waitFor('held')
  const attempt = () => withSessionWriteLock(session, { configPath: configFile }, () => {}).catch((e) => e)
  const first = await attempt()
  assert.equal(first.code, 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT')
  assert.equal(first.timeoutMs, 300)
  assert.ok(first.waitedMs >= 300 && first.waitedMs < 800, String(first.waitedMs))
  // Same size, new value: the change is seen through the file's mtime, not its length.
  fs.writeFileSync(configFile, fileWith('acquireTimeoutMs', '900'))
  const second = await attempt()
  assert.equal(second.timeoutMs, 900)
  assert.ok(second.waitedMs >= 900, `the new limit fired early: ${second.waitedMs}`)
  holder.send('release')
})

test('invalid values: SessionWriteLockConfigError naming source, key, value and expectation', (t) => {
  const cases: Array<[NodeJS.ProcessEnv, object, Record<string, string>]> = [
    [
      { OPENCLAW_SESSION_WRITE_LOCK_STALE_MS: '-5' },
      {},
      { source: 'env:OPENCLAW_SESSION_WRITE_LOCK_STALE_MS', key: 'staleMs', value: '"-5"' },
    ],
    [
      { OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS: 'NaN' },
      {},
      { source: 'env:OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS', key: 'maxHoldMs', value: '"NaN"' },
    ],
    [
      { OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS: 'ten' },
      {},
      { source: 'env:OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS', key: 'acquireTimeoutMs', value: '"ten"' },
    ],
    [
      { OPENCLAW_SESSION_WRITE_LOCK_DURABILITY: 'always' },
      {},
      { source: 'env:OPENCLAW_SESSION_WRITE_LOCK_DURABILITY', key: 'durability', value: '"always"' },
    ],
    [{}, { configure: { maxHoldMs: -1 } }, { source: 'configure', key: 'maxHoldMs', value: '-1' }],
    [{}, { configure: { staleMs: 'NaN' } }, { source: 'configure', key: 'staleMs', value: 'NaN' }],
    [{}, { configure: { acquireTimeoutMs: '10' } }, { source: 'configure', key: 'acquireTimeoutMs', value: '"10"' }],
    [{}, { configure: { noticeAfterMs: true } }, { source: 'configure', key: 'noticeAfterMs', value: 'true' }],
  ]
  for (const [env, instruction, fields] of cases) {
    const { error } = resolveIn(env, instruction)
    assert.ok(error, JSON.stringify({ env, instruction }))
    assert.equal(error.name, 'SessionWriteLockConfigError')
    assert.equal(error.code, 'SESSION_WRITE_LOCK_CONFIG')
    assert.equal(error.source, fields.source)
    assert.equal(error.key, fields.key)
    assert.equal(error.value, fields.value)
    assert.match(error.expected, fields.key === 'durability' ? /"none", "data", "full"/ : /non-negative number/)
    for (const part of [fields.key, fields.value, error.expected])
      assert.ok(error.message.includes(part), error.message)
  }
  const file = writeConfig(t, fileWith('maxHoldMs', "'5 minutes'"))
  const { error } = resolveIn({ OPENCLAW_CONFIG_PATH: file })
  assert.equal(error.source, `file:${file}`)
  assert.ok(error.message.includes(file) && error.message.includes('session.writeLock.maxHoldMs'), error.message)
  assert.equal(error.value, '"5 minutes"')
})

test('invalid JSON5 names the file, line and column', (t) => {
  const file = writeConfig(t, '{\n  session: {\n    writeLock: { staleMs: 5 ]\n  }\n}')
  const { error } = resolveIn({ OPENCLAW_CONFIG_PATH: file })
  assert.equal(error.code, 'SESSION_WRITE_LOCK_CONFIG')
  assert.equal(error.path, file)
  assert.equal(error.line, 3)
  assert.ok(error.column > 1)
  assert.ok(error.message.startsWith(`invalid JSON5 in ${file} at line 3, column ${error.column}`), error.message)
})

test('a missing file means defaults; an unreadable one is an error naming it; unknown keys warn once', (t) => {
  assert.equal(resolveIn({ OPENCLAW_CONFIG_PATH: '/nonexistent/openclaw.json' }).config.staleMs.source, 'default')
  const { dir } = tempSession(t)
  const unreadable = path.join(dir, 'openclaw.json')
  fs.mkdirSync(unreadable) // a directory where the file should be: it cannot be read
  const { error } = resolveIn({ OPENCLAW_CONFIG_PATH: unreadable })
  assert.equal(error.code, 'SESSION_WRITE_LOCK_CONFIG')
  assert.equal(error.path, unreadable)
  assert.equal(error.errno, 'EISDIR')
  assert.ok(error.message.includes(unreadable))
  const file = writeConfig(t, '{ session: { writeLock: { timeout: 5, staleMs: 9 } } }')
  const r = resolveIn({ OPENCLAW_CONFIG_PATH: file })
  assert.equal(r.config.staleMs.value, 9)
  assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings))
  assert.equal(r.warnings[0].code, 'SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY')
  assert.match(r.warnings[0].message, /session\.writeLock\.timeout/)
})

test('a configuration error is raised before anything is locked or written', async (t) => {
  const { file, dir } = tempSession(t)
  const configFile = writeConfig(t, fileWith('acquireTimeoutMs', '-1'))
  const err = await withSessionWriteLock(file, { configPath: configFile }, () => 'ran').catch((e) => e)
  assert.ok(err instanceof SessionWriteLockConfigError)
  assert.deepEqual(fs.readdirSync(dir), [], 'no sidecar, no transcript')
  fs.writeFileSync(configFile, fileWith('acquireTimeoutMs', '0'))
  assert.equal(await withSessionWriteLock(file, { configPath: configFile }, () => 'ran'), 'ran')
})

test('configureSessionWriteLock is all or nothing, and null clears a key', () => {
  const bad = resolveIn({}, { configure: { staleMs: 5, maxHoldMs: -1 } })
  assert.equal(bad.error.key, 'maxHoldMs')
  const r = resolveIn({}, { configure: { staleMs: 5, maxHoldMs: null } })
  assert.deepEqual(r.config.staleMs, { value: 5, source: 'configure' })
  assert.equal(r.config.maxHoldMs.source, 'default')
  const unknown = resolveIn({}, { configure: { timeout: 5 } })
  assert.equal(unknown.error.code, 'SESSION_WRITE_LOCK_CONFIG')
})
