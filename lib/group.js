'use strict'

// Group commit: `appendSessionEntries` calls of one process on one session, made before the first of
// them holds the lock, share its hold and one contiguous write. Each caller's lines stay together, in
// the order of the calls, and each caller gets its own result (its offset and bytes) or the failure of
// the write they shared (rolled back as a whole). Only calls whose options are the same are grouped:
// nothing that changes how the lock is taken or the write is made is ever merged silently.

const path = require('node:path')

const { LIMITS } = require('./options')

/** A batch stops taking entries at this size; the next call starts another (a write of its own). */
const MAX_BATCH_BYTES = 8 * 2 ** 20

/** Batches that have not got the lock yet, by session and options: later calls still join them. */
const open = new Map()

/**
 * The batch key of a call: its session and every option that matters to the hold or the write. A call
 * with a signal or a hook of its own is not grouped (`undefined`): its wait or its errors are its own.
 */
function batchKey(sessionFile, o) {
  if (o.signal || o.onWait || o.onRevoked || o.onError) return undefined
  let key = `${path.resolve(sessionFile)}\0${o.configPath ?? ''}\0${o.owner ?? ''}\0${o.allowNetworkFilesystem === true}`
  for (const name of LIMITS) key += `\0${o.call[name]}`
  return `${key}\0${o.call.durability}`
}

/**
 * Adds encoded lines to the open batch of `key`, or opens one for `call` (the session and checked
 * options it is committed with); `run(batch)` is started for a new batch once the microtasks queued so
 * far have run, so that every call made until then can join it. Resolves with this call's result.
 */
function join(key, call, data, count, span, run) {
  let batch = open.get(key)
  if (batch === undefined || batch.bytes + data.length > MAX_BATCH_BYTES) {
    batch = { key, call, items: [], bytes: 0 }
    open.set(key, batch)
    queueMicrotask(() => run(batch))
  }
  return new Promise((resolve, reject) => {
    batch.items.push({ data, count, span, joinedAt: span ? performance.now() : 0, resolve, reject })
    batch.bytes += data.length
  })
}

/** The batch has the lock: calls from now on start another. Returns its lines as one buffer. */
function close(batch) {
  if (open.get(batch.key) === batch) open.delete(batch.key)
  const { items } = batch
  const data =
    items.length === 1
      ? items[0].data
      : Buffer.concat(
          items.map((item) => item.data),
          batch.bytes,
        )
  let count = 0
  for (const item of items) count += item.count
  return { data, count }
}

/**
 * Settles every call of a batch from the one write: each gets the offset and size of its own lines. A
 * repair of the transcript's tail, made before the write, is reported to the first caller only.
 */
function settle(batch, written) {
  let offset = written.offset
  batch.items.forEach((item, i) => {
    const result = { entries: item.count, offset, bytes: item.data.length }
    if (i === 0 && written.repair)
      Object.assign(result, { repair: written.repair, quarantinePath: written.quarantinePath })
    offset += item.data.length
    item.resolve(result)
  })
}

/** Every call of the batch fails with the same error. */
function fail(batch, error) {
  for (const item of batch.items) item.reject(error)
}

/** Fills in the spans of a batch's calls (`lib/trace.js`): the lock, each call's own wait. */
function spansAcquired(batch, lockPath) {
  const now = performance.now()
  for (const { span, joinedAt } of batch.items) {
    if (span) Object.assign(span, { lockPath, waitedMs: now - joinedAt, batched: batch.items.length })
  }
  return now
}

function spansReleased(batch, acquiredAt) {
  const heldMs = performance.now() - acquiredAt
  for (const { span } of batch.items) if (span) span.heldMs = heldMs
}

/** Batches that have not got the lock yet (for a process that exits before they run). */
function pending() {
  return [...open.values()]
}

module.exports = { batchKey, join, close, settle, fail, spansAcquired, spansReleased, pending, MAX_BATCH_BYTES }
