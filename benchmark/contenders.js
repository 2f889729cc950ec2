'use strict'

// One adapter per contender, all with the same shape:
//   withLock(file, fn)   take the session lock for `file`, run fn, release
//   append(file, entry)  one locked append of one JSON entry as a line
// Retries of the polling locks use small delays, so that their waits are not artificially long.

const fs = require('node:fs')
const path = require('node:path')

const appendLine = (file, entry) => fs.appendFileSync(file, `${JSON.stringify(entry)}\n`)

const NAMES = ['session-write-lock', 'legacy', 'proper-lockfile', 'fs-safe', 'fs-ext', 'raw']

async function load(name) {
  switch (name) {
    case 'session-write-lock':
    case 'swl-ab': {
      const { withSessionWriteLock, appendSessionEntries } = require(name === 'swl-ab' ? process.env.SWL_AB_DIR : '..')
      const opts = { acquireTimeoutMs: 120_000 }
      return {
        withLock: (file, fn) => withSessionWriteLock(file, opts, fn),
        append: (file, entry) => appendSessionEntries(file, entry, opts),
      }
    }
    case 'legacy': {
      const { withLegacyLock } = require(path.join(__dirname, '..', 'scripts', 'legacy-lock.js'))
      const opts = { acquireTimeoutMs: 120_000 }
      return {
        withLock: (file, fn) => withLegacyLock(file, opts, fn),
        append: (file, entry) => withLegacyLock(file, opts, () => appendLine(file, entry)),
      }
    }
    case 'proper-lockfile': {
      const lockfile = require('proper-lockfile')
      const opts = {
        realpath: false,
        stale: 30_000,
        retries: { retries: 100_000, factor: 1, minTimeout: 1, maxTimeout: 5 },
      }
      const withLock = async (file, fn) => {
        const release = await lockfile.lock(file, opts)
        try {
          return await fn()
        } finally {
          await release()
        }
      }
      return { withLock, append: (file, entry) => withLock(file, () => appendLine(file, entry)) }
    }
    case 'fs-safe': {
      const { withFileLock } = await import('@openclaw/fs-safe/file-lock')
      const opts = {
        staleMs: 30_000,
        timeoutMs: 120_000,
        payload: () => ({ pid: process.pid, createdAt: new Date().toISOString() }),
        retry: { retries: 100_000, factor: 1, minTimeout: 1, maxTimeout: 5 },
      }
      const withLock = (file, fn) => withFileLock(file, opts, async () => fn())
      return { withLock, append: (file, entry) => withLock(file, () => appendLine(file, entry)) }
    }
    case 'fs-ext': {
      // A kernel lock as a Node user would take it with fs-ext: the sidecar is kept (never unlinked),
      // each acquisition opens its own descriptor (flock on a shared one would not exclude), waits in
      // `flock(fd, 'ex', cb)` on a libuv threadpool thread, and releases synchronously.
      const { flock, flockSync } = require('fs-ext')
      const withLock = async (file, fn) => {
        const fd = fs.openSync(`${file}.lock`, 'a')
        try {
          await new Promise((resolve, reject) => flock(fd, 'ex', (err) => (err ? reject(err) : resolve())))
          try {
            return await fn()
          } finally {
            flockSync(fd, 'un')
          }
        } finally {
          fs.closeSync(fd)
        }
      }
      return { withLock, append: (file, entry) => withLock(file, () => appendLine(file, entry)) }
    }
    case 'raw':
      return {
        withLock: async (_file, fn) => fn(),
        append: async (file, entry) => appendLine(file, entry),
      }
    case 'naive-wx': {
      // The smallest possible sidecar lock: open(wx), close, unlink. Only for the round-trip floor.
      const withLock = async (file, fn) => {
        const lockPath = `${file}.lock`
        for (;;) {
          try {
            await (await fs.promises.open(lockPath, 'wx')).close()
            break
          } catch (err) {
            if (err.code !== 'EEXIST') throw err
            await new Promise((r) => setTimeout(r, 1))
          }
        }
        try {
          return await fn()
        } finally {
          await fs.promises.unlink(lockPath)
        }
      }
      return { withLock, append: (file, entry) => withLock(file, () => appendLine(file, entry)) }
    }
    default:
      throw new Error(`unknown contender ${name}`)
  }
}

module.exports = { NAMES, load }
