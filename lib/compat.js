'use strict'

// The legacy surface of openclaw's src/agents/session-write-lock.ts, 2026.2 to 2026.7, so that a gateway of
// any of those generations swaps one import line and keeps its call sites. Where the generations
// disagree, the choice is written next to the code and in the README ("Which OpenClaw are you on?").

const native = require('./native')
const { DEFAULTS } = require('./config')
const { invalidArgType, invalidArgValue } = require('./errors')
const { checkOwner, checkSessionFile, isAbortSignal } = require('./options')

/**
 * The native defaults: 60 s to acquire, as in 2026.5+ (2026.2 to 2026.4 waited 10 s, which is what turned
 * contention into "All models failed"), 30 min stale, 5 min longest hold.
 */
const DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS = DEFAULTS.acquireTimeoutMs
const DEFAULT_SESSION_WRITE_LOCK_STALE_MS = DEFAULTS.staleMs
const DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS = DEFAULTS.maxHoldMs

// `owner` is this package's: who holds, in words, shown to whoever waits (no legacy generation had it).
const ACQUIRE_KEYS = new Set(['sessionFile', 'timeoutMs', 'staleMs', 'maxHoldMs', 'allowReentrant', 'signal', 'owner'])

/**
 * The legacy reading of an optional positive duration, as every generation's `resolvePositiveMs` does
 * it: a number that is not positive (0, negative, NaN), or `Infinity` where not allowed, means the
 * default. A value of another type is a bug in the caller and a TypeError here.
 */
function legacyLimit(params, key, allowInfinity) {
  const value = params[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number') throw invalidArgType(`params.${key}`, 'of type number', value)
  if (Number.isNaN(value) || value <= 0) return undefined
  if (value === Infinity && !allowInfinity) return undefined
  return value
}

/** Checks the legacy `acquireSessionWriteLock` parameters. */
function acquireParams(params) {
  if (typeof params !== 'object' || params === null) throw invalidArgType('params', 'of type object', params)
  for (const key of Object.keys(params)) {
    if (!ACQUIRE_KEYS.has(key)) throw invalidArgValue(`params.${key}`, 'option is not known', params[key])
  }
  checkSessionFile(params.sessionFile, 'params.sessionFile')
  const { allowReentrant, signal } = params
  if (allowReentrant !== undefined && typeof allowReentrant !== 'boolean') {
    throw invalidArgType('params.allowReentrant', 'of type boolean', allowReentrant)
  }
  if (params.owner !== undefined) checkOwner(params.owner, 'params.owner')
  if (signal !== undefined && signal !== null && !isAbortSignal(signal)) {
    throw invalidArgType('params.signal', 'an AbortSignal', signal)
  }
  return {
    sessionFile: params.sessionFile,
    acquireTimeoutMs: legacyLimit(params, 'timeoutMs', true),
    staleMs: legacyLimit(params, 'staleMs', false),
    maxHoldMs: legacyLimit(params, 'maxHoldMs', false),
    // Re-entry is scoped to the async flow that holds the lock (see index.js), which is the sound answer
    // to both legacy defaults: `true` (2026.2 to 2026.4) and `false` (2026.5+).
    allowReentrant: allowReentrant !== false,
    signal: signal ?? undefined,
    owner: params.owner,
  }
}

/**
 * What 2026.7 rejects with when `signal` aborts: the signal's reason when it is an Error, else an
 * `AbortError` whose cause is the reason.
 */
function abortReason(signal) {
  if (signal.reason instanceof Error) return signal.reason
  const error = new Error('request aborted', { cause: signal.reason })
  error.name = 'AbortError'
  return error
}

/** The legacy cap on a hold: about 24.8 days, under the 32-bit timer limit. */
const MAX_LOCK_HOLD_MS = 2_147_000_000
const DEFAULT_TIMEOUT_GRACE_MS = 120_000

/** The legacy reading of an optional positive duration: anything else means the fallback. */
function positiveOr(value, fallback, allowInfinity = false) {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) return fallback
  if (value === Infinity) return allowInfinity ? value : fallback
  return value
}

/**
 * The legacy helper: the longest a run with this timeout may hold the lock, which is
 * `max(minMs, timeoutMs + graceMs)`, capped; an infinite timeout gets the cap. Values that are not
 * positive numbers fall back to the defaults (`minMs` 5 min, `graceMs` 2 min), as they did before.
 */
function resolveSessionLockMaxHoldFromTimeout(params) {
  if (typeof params !== 'object' || params === null) throw invalidArgType('params', 'of type object', params)
  const minMs = positiveOr(params.minMs, DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS)
  const timeoutMs = positiveOr(params.timeoutMs, minMs, true)
  if (timeoutMs === Infinity) return MAX_LOCK_HOLD_MS
  const graceMs = positiveOr(params.graceMs, DEFAULT_TIMEOUT_GRACE_MS)
  return Math.min(MAX_LOCK_HOLD_MS, Math.max(minMs, timeoutMs + graceMs))
}

// The resolvers of 2026.5+: the environment over `config.session.writeLock` over a fallback, where
// anything unusable is skipped. 2026.5 and 2026.7 disagree on "usable"; these follow 2026.7, the stricter:
// an environment value must be all digits (or `Infinity` for the timeout), and every value a positive
// safe integer. (2026.5 also read `1e4`, `0x10`, `1.5` and `+5` from the environment, and fractions from
// the file.)

/** The environment variable of each setting, from the native layer. */
const ENV = native.settingVariables()

function parsePositiveMs(value, allowInfinity) {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) return undefined
  if (value === Infinity) return allowInfinity ? value : undefined
  return Number.isSafeInteger(value) ? value : undefined
}

function envMs(env, key, allowInfinity) {
  const raw = env?.[ENV[key]]
  const text = typeof raw === 'string' ? raw.trim() : ''
  if (!text) return undefined
  if (text === 'Infinity') return allowInfinity ? Infinity : undefined
  return /^\d+$/.test(text) ? parsePositiveMs(Number(text), allowInfinity) : undefined
}

function resolveMs(config, env, key, fallback, allowInfinity = false) {
  const fromFile = config?.session?.writeLock?.[key]
  return envMs(env ?? process.env, key, allowInfinity) ?? parsePositiveMs(fromFile, allowInfinity) ?? fallback
}

/** How long `acquireSessionWriteLock` waits: env, then `config.session.writeLock`, then 60 s. */
function resolveSessionWriteLockAcquireTimeoutMs(config, env) {
  return resolveMs(config, env, 'acquireTimeoutMs', DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS, true)
}

/** When a legacy sidecar counts as too old: env, then `config.session.writeLock`, then 30 min. */
function resolveSessionWriteLockStaleMs(config, env) {
  return resolveMs(config, env, 'staleMs', DEFAULT_SESSION_WRITE_LOCK_STALE_MS)
}

/** The longest hold: env, then `config.session.writeLock`, then `fallback` (5 min). */
function resolveSessionWriteLockMaxHoldMs(config, params = {}) {
  return resolveMs(config, params?.env, 'maxHoldMs', params?.fallback ?? DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS)
}

/** The three limits, as 2026.5+ call sites spread them into `acquireSessionWriteLock`. */
function resolveSessionWriteLockOptions(config, params = {}) {
  return {
    timeoutMs: resolveSessionWriteLockAcquireTimeoutMs(config, params?.env),
    staleMs: resolveSessionWriteLockStaleMs(config, params?.env),
    maxHoldMs: resolveSessionWriteLockMaxHoldMs(config, { env: params?.env, fallback: params?.maxHoldMsFallback }),
  }
}

module.exports = {
  acquireParams,
  abortReason,
  resolveSessionLockMaxHoldFromTimeout,
  resolveSessionWriteLockAcquireTimeoutMs,
  resolveSessionWriteLockStaleMs,
  resolveSessionWriteLockMaxHoldMs,
  resolveSessionWriteLockOptions,
  DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS,
  DEFAULT_SESSION_WRITE_LOCK_STALE_MS,
  DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS,
}
