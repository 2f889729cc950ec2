'use strict'

// Finding sidecars in session directories, reporting on them, and removing the stale ones safely:
// removal happens in Rust, under the sidecar's kernel lock, after judging it again.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const native = require('./native')
const { fromNative, invalidArgType, invalidArgValue } = require('./errors')
const { duration } = require('./options')
const { effectiveConfig } = require('./config')
const { resolveSessionWriteLockStaleMs } = require('./compat')

/** The staleness window in force (call, configure, environment, file, default). */
const configuredStaleMs = () => effectiveConfig({}).staleMs

/** The OpenClaw state directory: `$OPENCLAW_STATE_DIR`, else `~/.openclaw`. */
function resolveStateDir(env = process.env) {
  return env.OPENCLAW_STATE_DIR ? path.resolve(env.OPENCLAW_STATE_DIR) : path.join(os.homedir(), '.openclaw')
}

/** Every `<stateDir>/agents/<id>/sessions` directory that exists. */
function sessionDirectories(stateDir = resolveStateDir()) {
  const agents = path.join(stateDir, 'agents')
  let ids
  try {
    ids = fs.readdirSync(agents, { withFileTypes: true })
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
  return ids
    .filter((d) => d.isDirectory())
    .map((d) => path.join(agents, d.name, 'sessions'))
    .filter((dir) => fs.existsSync(dir))
    .sort()
}

function callNative(fn, ...args) {
  try {
    return fn(...args)
  } catch (err) {
    throw fromNative(err)
  }
}

/**
 * The legacy inspection shape: absent values are `null`, not missing, and `removable` (2026.7's name)
 * says what `stale` says: the cleaner removes it, and the next acquirer would take it over.
 */
function withNulls(info) {
  return {
    ...info,
    pid: info.pid ?? null,
    createdAt: info.createdAt ?? null,
    ageMs: info.ageMs ?? null,
    removable: info.stale,
  }
}

/** Inspects one sidecar; one that vanished meanwhile is `null`, one we refuse to open is reported. */
function inspectOne(lockPath, staleMs, nowMs) {
  try {
    return withNulls(callNative(native.inspectLockFile, lockPath, staleMs, nowMs))
  } catch (err) {
    if (err.code === 'ENOENT') return null
    // Refused (a symlink, a FIFO) is `unsafe`; a sidecar that cannot be read (EACCES) is reported with its error.
    const kind = err.code === 'SESSION_WRITE_LOCK_UNSAFE_PATH' ? 'unsafe' : 'unknown'
    return withNulls({
      lockPath,
      kind,
      held: false,
      pidAlive: false,
      stale: false,
      staleReasons: [],
      removed: false,
      error: err,
    })
  }
}

/**
 * Removes one sidecar if it is still stale under its kernel lock. One that cannot be handled (it may
 * not be opened, or its removal fails) is reported with its `error`, not removed; cleanup goes on.
 */
function removeIfStale(lockPath, staleMs, nowMs, judged) {
  try {
    return withNulls(callNative(native.removeStaleLockFile, lockPath, staleMs, nowMs))
  } catch (err) {
    if (err.code === 'ENOENT') return null
    return {
      ...(judged ??
        withNulls({ lockPath, kind: 'unknown', held: false, pidAlive: false, stale: true, staleReasons: [] })),
      removed: false,
      error: err,
    }
  }
}

function checkDir(dir, name) {
  if (typeof dir !== 'string') throw invalidArgType(name, 'of type string', dir)
  if (dir.length === 0) throw invalidArgValue(name, 'argument must be a non-empty string', dir)
}

/**
 * Reports every `*.lock` sidecar in `dir`: kind, whether its kernel lock is held right now, pid and
 * liveness, age, and whether the next acquirer would take it over (`stale`, with reasons).
 */
function inspectSessionLocks(dir, options = {}) {
  checkDir(dir, 'dir')
  const staleMs = options.staleMs === undefined ? configuredStaleMs() : duration(options.staleMs, 'staleMs', true)
  const found = callNative(native.listLockFiles, path.resolve(dir), '.lock')
  return found.map((p) => inspectOne(p, staleMs, undefined)).filter(Boolean)
}

// `config`, `env` and `readOwnerProcessArgs` are 2026.5+'s. The last one fed the `non-openclaw-owner`
// rule, which this cleaner does not apply (it would remove the live hold of any process not named like
// the gateway), so it is accepted and unused.
const CLEAN_KEYS = new Set([
  'sessionsDir',
  'staleMs',
  'removeStale',
  'nowMs',
  'log',
  'config',
  'env',
  'readOwnerProcessArgs',
])

/**
 * Drop-in replacement for the legacy `cleanStaleLockFiles`: scans `*.jsonl.lock` in `sessionsDir` and
 * removes the stale ones. It is never more aggressive than any legacy cleaner: a live holder is kept
 * however old (`too-old` is reported only), a sidecar naming this very process is kept, and an empty or
 * malformed one only goes once unchanged for 30 s. A sidecar is removed only under its kernel lock,
 * after being judged again, so a held or freshly created lock is never removed.
 */
async function cleanStaleLockFiles(params) {
  if (typeof params !== 'object' || params === null) throw invalidArgType('params', 'of type object', params)
  for (const key of Object.keys(params)) {
    if (!CLEAN_KEYS.has(key)) throw invalidArgValue(`params.${key}`, 'option is not known', params[key])
  }
  checkDir(params.sessionsDir, 'params.sessionsDir')
  const fallback = () =>
    params.config !== undefined || params.env !== undefined
      ? resolveSessionWriteLockStaleMs(params.config, params.env)
      : configuredStaleMs()
  const staleMs = typeof params.staleMs === 'number' && params.staleMs > 0 ? params.staleMs : fallback()
  const nowMs = params.nowMs === undefined ? undefined : duration(params.nowMs, 'nowMs', false)
  const removeStale = params.removeStale !== false
  const locks = []
  const cleaned = []
  for (const lockPath of callNative(native.listLockFiles, path.resolve(params.sessionsDir), '.jsonl.lock')) {
    let info = inspectOne(lockPath, staleMs, nowMs)
    if (info?.stale && removeStale) info = removeIfStale(lockPath, staleMs, nowMs, info)
    if (!info) continue
    if (info.removed) {
      cleaned.push(info)
      params.log?.warn?.(`removed stale session lock: ${lockPath} (${info.staleReasons.join(', ') || 'unknown'})`)
    }
    locks.push(info)
  }
  return { locks, cleaned }
}

/**
 * Call once at gateway start: removes the stale sidecars of every session directory under the state
 * directory (or of `sessionsDirs`), with the same safe removal. Resolves to what it found and cleaned.
 */
async function recoverSessionLocksOnStartup(options = {}) {
  const dirs = options.sessionsDirs ?? sessionDirectories(options.stateDir ?? resolveStateDir())
  const locks = []
  const cleaned = []
  for (const sessionsDir of dirs) {
    const r = await cleanStaleLockFiles({ sessionsDir, staleMs: options.staleMs, log: options.log })
    locks.push(...r.locks)
    cleaned.push(...r.cleaned)
  }
  return { dirs, locks, cleaned }
}

module.exports = {
  resolveStateDir,
  sessionDirectories,
  inspectSessionLocks,
  cleanStaleLockFiles,
  recoverSessionLocksOnStartup,
  removeIfStale,
}
