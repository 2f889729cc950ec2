'use strict'

// Tracing through node:diagnostics_channel, the convention APM tools subscribe to (undici, fastify and
// pg publish the same way). Nothing is built or asked of the native side unless someone subscribes:
// every publisher checks `hasSubscribers` first. docs/tracing.md lists the channels and their payloads.

const dc = require('node:diagnostics_channel')
const path = require('node:path')

const native = require('./native')

const PREFIX = 'session-write-lock'

/** One plain channel per event. */
const channels = {
  wait: dc.channel(`${PREFIX}:wait`),
  acquire: dc.channel(`${PREFIX}:acquire`),
  release: dc.channel(`${PREFIX}:release`),
  revoke: dc.channel(`${PREFIX}:revoke`),
  takeover: dc.channel(`${PREFIX}:takeover`),
  repair: dc.channel(`${PREFIX}:repair`),
}

/** One tracing channel per public locking call, so that its span nests under the caller's. */
const tracing = {
  withSessionWriteLock: dc.tracingChannel(`${PREFIX}:withSessionWriteLock`),
  withSessionWriteLockSync: dc.tracingChannel(`${PREFIX}:withSessionWriteLockSync`),
  appendSessionEntries: dc.tracingChannel(`${PREFIX}:appendSessionEntries`),
  appendSessionEntriesSync: dc.tracingChannel(`${PREFIX}:appendSessionEntriesSync`),
  acquireSessionWriteLock: dc.tracingChannel(`${PREFIX}:acquireSessionWriteLock`),
}

/** Milliseconds, to the microsecond: what the native side measured, without float noise. */
const ms = (value) => Math.round(value * 1000) / 1000

/**
 * Runs `run()` (returning a promise) as a span of `name`: `context` ({ sessionFile, owner }) gains
 * `lockPath`, `waitedMs` and `heldMs` as the call proceeds, then `result` or `error`. Without
 * subscribers it is a plain call.
 */
function tracePromise(name, context, run) {
  const channel = tracing[name]
  return channel.hasSubscribers ? channel.tracePromise(run, context) : run(undefined)
}

/** The synchronous twin of `tracePromise`. */
function traceSync(name, context, run) {
  const channel = tracing[name]
  return channel.hasSubscribers ? channel.traceSync(run, context) : run(undefined)
}

/**
 * A span's context, only when it will be published (`undefined` otherwise: nothing to fill in). Built
 * before the arguments are checked, so it takes them as they came.
 */
function spanContext(name, sessionFile, options) {
  if (!tracing[name].hasSubscribers) return undefined
  return {
    sessionFile: typeof sessionFile === 'string' ? path.resolve(sessionFile) : sessionFile,
    owner: typeof options?.owner === 'string' ? options.owner : undefined,
    lockPath: undefined,
    waitedMs: undefined,
    heldMs: undefined,
  }
}

/** A call has to wait: who holds the lock it waits for. */
function waiting(file, owner) {
  if (!channels.wait.hasSubscribers) return
  const sessionFile = path.resolve(file)
  let lockPath
  try {
    lockPath = native.sidecarPathFor(sessionFile)
  } catch {
    return // its directory went away; the wait itself will say so
  }
  channels.wait.publish({ sessionFile, lockPath, owner, holder: native.lockOwner(lockPath) })
}

/** Lock `id` was acquired (maybe taken over from a stale holder) as `lock`; fills in a span's context. */
function acquired(lock, id, span) {
  const wanted = channels.acquire.hasSubscribers || channels.takeover.hasSubscribers || span
  const trace = wanted && native.lockTrace(id)
  if (!trace) return
  const { sessionFile, lockPath, owner } = lock
  const waitedMs = ms(trace.waitedMs)
  if (span) Object.assign(span, { lockPath, waitedMs })
  const tookOver = trace.tookOver ? { pid: trace.tookOver.pid ?? null, reasons: trace.tookOver.reasons } : null
  if (channels.acquire.hasSubscribers) channels.acquire.publish({ sessionFile, lockPath, owner, waitedMs, tookOver })
  if (tookOver && channels.takeover.hasSubscribers) {
    channels.takeover.publish({ sessionFile, lockPath, owner, previousPid: tookOver.pid, reasons: tookOver.reasons })
  }
}

/** Fills in the span of a call that ends once the lock is acquired (the drop-in's). */
function spanAcquired(span, lockPath, id) {
  if (span) Object.assign(span, { lockPath, waitedMs: ms(native.lockTrace(id)?.waitedMs ?? 0) })
}

/** The last holder is about to release lock `id`: call before the native release, which forgets it. */
function releasing(lock, id, span) {
  const wanted = channels.release.hasSubscribers || span
  const trace = wanted && native.lockTrace(id)
  if (!trace) return
  const heldMs = ms(trace.heldMs)
  if (span) span.heldMs = heldMs
  if (!channels.release.hasSubscribers || !native.lockHeld(id)) return // a lost hold was reported as revoked
  const { sessionFile, lockPath, owner } = lock
  channels.release.publish({ sessionFile, lockPath, owner, waitedMs: ms(trace.waitedMs), heldMs })
}

/** Hold `id` ended without a release (`maxHoldMs`, a replaced sidecar, a signal, a test reset). */
function revoked(lock, id, error) {
  if (!channels.revoke.hasSubscribers) return
  const trace = native.lockTrace(id)
  const { sessionFile, lockPath, owner } = lock
  channels.revoke.publish({
    sessionFile,
    lockPath,
    owner,
    reason: error.reason,
    heldMs: trace ? ms(trace.heldMs) : null,
    error,
  })
}

/** An append repaired a torn last line of the transcript first. */
function repaired(lock, written) {
  if (!channels.repair.hasSubscribers) return
  const { sessionFile, lockPath, owner } = lock
  channels.repair.publish({
    sessionFile,
    lockPath,
    owner,
    repair: written.repair,
    quarantinePath: written.quarantinePath ?? null,
  })
}

module.exports = {
  tracePromise,
  traceSync,
  spanContext,
  waiting,
  acquired,
  spanAcquired,
  releasing,
  revoked,
  repaired,
}
