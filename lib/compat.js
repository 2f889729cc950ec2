'use strict'

// The legacy function signatures (openclaw's src/agents/session-write-lock.ts), so that a gateway swaps
// one import line and keeps its call sites.

const { invalidArgType, invalidArgValue } = require('./errors')
const { checkSessionFile } = require('./options')
const { DEFAULTS } = require('./config')

const ACQUIRE_KEYS = new Set(['sessionFile', 'timeoutMs', 'staleMs', 'maxHoldMs', 'allowReentrant'])

/** Checks the legacy `acquireSessionWriteLock` parameters; `undefined`/`null` limits mean the default. */
function acquireParams(params) {
  if (typeof params !== 'object' || params === null) throw invalidArgType('params', 'of type object', params)
  for (const key of Object.keys(params)) {
    if (!ACQUIRE_KEYS.has(key)) throw invalidArgValue(`params.${key}`, 'option is not known', params[key])
  }
  checkSessionFile(params.sessionFile, 'params.sessionFile')
  const { allowReentrant } = params
  if (allowReentrant !== undefined && typeof allowReentrant !== 'boolean') {
    throw invalidArgType('params.allowReentrant', 'of type boolean', allowReentrant)
  }
  const limit = (v) => (v === null ? undefined : v)
  return {
    sessionFile: params.sessionFile,
    timeoutMs: limit(params.timeoutMs),
    staleMs: limit(params.staleMs),
    maxHoldMs: limit(params.maxHoldMs),
    allowReentrant: allowReentrant !== false,
  }
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
  const minMs = positiveOr(params.minMs, DEFAULTS.maxHoldMs)
  const timeoutMs = positiveOr(params.timeoutMs, minMs, true)
  if (timeoutMs === Infinity) return MAX_LOCK_HOLD_MS
  const graceMs = positiveOr(params.graceMs, DEFAULT_TIMEOUT_GRACE_MS)
  return Math.min(MAX_LOCK_HOLD_MS, Math.max(minMs, timeoutMs + graceMs))
}

module.exports = { acquireParams, resolveSessionLockMaxHoldFromTimeout, MAX_LOCK_HOLD_MS }
