'use strict'

// Settings in force: the native layer resolves call options, configureSessionWriteLock(), the
// environment, openclaw.json and the defaults, in that order. This file only converts.

const native = require('../binding')
const { fromNative, invalidArgType } = require('./errors')

const KEYS = ['acquireTimeoutMs', 'staleMs', 'maxHoldMs', 'noticeAfterMs', 'durability']

/** The built-in defaults (the legacy lock's limits). */
const DEFAULTS = Object.freeze({
  acquireTimeoutMs: 60_000,
  staleMs: 30 * 60_000,
  maxHoldMs: 5 * 60_000,
  noticeAfterMs: 2_000,
  durability: 'none',
})

const warned = new Set()

function resolveNative(fn, call = {}, configPath) {
  let r
  try {
    r = fn(call, configPath)
  } catch (err) {
    throw fromNative(err)
  }
  for (const { code, message } of (r.values ?? r).warnings ?? []) {
    if (warned.has(message)) continue
    warned.add(message)
    process.emitWarning(message, { code })
  }
  return r
}

/**
 * The settings for one lock call: its own options over every configured layer. Resolved natively on
 * every call (one `stat` of openclaw.json), so an edit applies to the next acquisition.
 */
function effectiveConfig(call, configPath) {
  return resolveNative(native.lockSettings, call, configPath)
}

/**
 * Each setting in force, with where it came from: `call`, `configure`, `env:<NAME>`, `file:<path>` or
 * `default`.
 */
function resolveSessionWriteLockConfig(options = {}) {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options)
  const { configPath, ...call } = options
  const { lockOptions } = require('./options')
  const checked = lockOptions({ ...call, ...(configPath === undefined ? {} : { configPath }) })
  const r = resolveNative(native.resolveLockConfig, checked.call, checked.configPath)
  const out = { configPath: r.configPath ?? null }
  KEYS.forEach((key, i) => {
    out[key] = { value: r.values[key], source: r.sources[i] }
  })
  return out
}

/** Settings from code, above the environment and the file (below per-call options). `null` clears one. */
function configureSessionWriteLock(partial) {
  if (typeof partial !== 'object' || partial === null) throw invalidArgType('partial', 'of type object', partial)
  const entries = Object.entries(partial).map(([key, value]) => ({
    key,
    kind: value === null ? 'null' : typeof value,
    number: typeof value === 'number' ? value : undefined,
    text: typeof value === 'number' ? undefined : String(value),
  }))
  try {
    native.configureLock(entries)
  } catch (err) {
    throw fromNative(err)
  }
}

module.exports = { DEFAULTS, KEYS, effectiveConfig, resolveSessionWriteLockConfig, configureSessionWriteLock }
