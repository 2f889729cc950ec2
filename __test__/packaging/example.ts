// Uses the whole public API the way a TypeScript gateway would. The packaging test type-checks it
// (strict, both as NodeNext ESM and as CommonJS) against the installed tarball, then runs it.

import { AsyncResource } from 'node:async_hooks'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {
  acquireSessionWriteLock,
  appendSessionEntries,
  appendSessionEntriesSync,
  cleanStaleLockFiles,
  configureSessionWriteLock,
  DEFAULTS,
  inspectSessionLocks,
  recoverSessionLocksOnStartup,
  resolveSessionLockMaxHoldFromTimeout,
  resolveSessionWriteLockConfig,
  sessionLockStats,
  SessionWriteLockConfigError,
  SessionWriteLockError,
  SessionWriteLockTimeoutError,
  withSessionWriteLock,
  withSessionWriteLockSync,
  type AppendResult,
  type ResolvedSessionWriteLockConfig,
  type SessionWriteLock,
} from 'session-write-lock'

async function main(): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-example-'))
  const sessionsDir = path.join(stateDir, 'agents', 'main', 'sessions')
  const file = path.join(sessionsDir, 'example.jsonl')

  const first: AppendResult = await appendSessionEntries(file, { role: 'user', content: 'hi' })
  const second = appendSessionEntriesSync(file, [{ role: 'assistant', content: 'hello' }], { durability: 'data' })
  const count: number = await withSessionWriteLock(file, { acquireTimeoutMs: 1000 }, (lock: SessionWriteLock) => {
    lock.assertHeld()
    lock.append({ role: 'tool', content: 'done' })
    return lock.read().length
  })
  const same = withSessionWriteLockSync(file, (lock) => lock.sessionFile === path.resolve(file))

  // Another channel's turn, from its own async context (a call later in this flow would re-enter).
  const otherChannel = AsyncResource.bind(() => withSessionWriteLock(file, { acquireTimeoutMs: 50 }, () => 'free'))
  const legacy = await acquireSessionWriteLock({ sessionFile: file, timeoutMs: 1000 })
  const busy = await otherChannel().catch((e: unknown) => e)
  await legacy.release()
  if (!(busy instanceof SessionWriteLockTimeoutError) || busy.reason !== 'session_busy')
    throw new Error('expected a timeout')

  configureSessionWriteLock({ noticeAfterMs: 5000 })
  const config: ResolvedSessionWriteLockConfig = resolveSessionWriteLockConfig()
  let configError: unknown
  try {
    configureSessionWriteLock({ staleMs: -1 })
  } catch (err) {
    configError = err
  }

  const cleaned = await cleanStaleLockFiles({ sessionsDir, staleMs: DEFAULTS.staleMs })
  const recovered = await recoverSessionLocksOnStartup({ stateDir })
  const report = {
    offsets: [first.offset, second.offset],
    count,
    same,
    timeoutCode: busy.code,
    noticeSource: config.noticeAfterMs.source,
    configError: configError instanceof SessionWriteLockConfigError && configError instanceof SessionWriteLockError,
    maxHold: resolveSessionLockMaxHoldFromTimeout({ timeoutMs: 600_000 }),
    locks: inspectSessionLocks(sessionsDir).length + cleaned.locks.length + recovered.locks.length,
    acquisitions: sessionLockStats().acquisitions,
  }
  fs.rmSync(stateDir, { recursive: true, force: true })
  console.log(JSON.stringify(report))
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
