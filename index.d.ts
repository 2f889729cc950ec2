// Public types of session-write-lock. The native binding's own types are in binding.d.ts, generated
// from the Rust doc comments.

import type {
  AppendResult as NativeAppendResult,
  Durability as NativeDurability,
  Kind,
  NativeLockStats,
  Owner,
  OwnerKind,
} from './binding'

/** Options shared by every lock call. Unknown keys are rejected with `ERR_INVALID_ARG_VALUE`. */
export interface SessionWriteLockOptions {
  /** How long to wait for the lock before `SessionWriteLockTimeoutError`. Default 60 000; `Infinity` allowed. */
  acquireTimeoutMs?: number
  /** Legacy staleness window used to judge sidecars written by the JavaScript lock. Default 1 800 000. */
  staleMs?: number
  /** A hold older than this is revoked: waiters proceed and `lock.signal` aborts. Default 300 000. */
  maxHoldMs?: number
  /** Aborts the wait with `SessionWriteLockAbortedError` (its `cause` is the signal's reason). */
  signal?: AbortSignal
  /**
   * A nested call for the same session from inside the callback (same async context) re-enters the held
   * lock. With `false` it fails at once with `SESSION_WRITE_LOCK_REENTRANT`. Default `true`.
   */
  reentrant?: boolean
  /** Called instead of `process.emitWarning` when the hold is revoked. */
  onRevoked?: (error: SessionWriteLockLostError) => void
  /** `none` (default: no sync), `data` (fdatasync) or `full` (fsync, plus the directory of a new file). */
  durability?: Durability
  /** After waiting this long, one notice goes to `onWait` (else `process.emitWarning`). Default 2000. */
  noticeAfterMs?: number
  /** Receives the wait notice. */
  onWait?: (notice: WaitNotice) => void
  /** Reads settings from this `openclaw.json` instead of the usual lookup. */
  configPath?: string
  /**
   * Lock sessions on NFS, SMB and other network filesystems anyway, Windows UNC paths and mapped network
   * drives included (refused by default with `SESSION_WRITE_LOCK_NETWORK_FS`; also
   * `OPENCLAW_SESSION_WRITE_LOCK_ALLOW_NETWORK_FS=1`). Only processes on one machine then exclude each other.
   */
  allowNetworkFilesystem?: boolean
  /**
   * Who holds, in words (a run id, a session key, a channel: 1 to 256 characters). It goes into the sidecar
   * next to the machine's name and the program's, and whoever waits sees it: the timeout error's
   * `owner.label`, the wait notice, `inspectSessionLocks`, `session-write-lock doctor`. Legacy readers
   * ignore it.
   */
  owner?: string
  /**
   * `withSessionWriteLock` only: when `fn` throws, runs under the same lock before release (for example to
   * record an error entry). The caller still receives `fn`'s original error.
   */
  onError?: (error: unknown, lock: SessionWriteLock) => unknown
}

/**
 * How hard a write is pushed to stable storage before it resolves: `none` (the page cache has it, as the
 * legacy code did), `data` (`fdatasync`), `full` (`fsync`, `F_FULLFSYNC` on macOS, `FlushFileBuffers` on
 * Windows, and the directory too when the file is new, where the OS allows it).
 */
export type Durability = NativeDurability

export interface WaitNotice {
  sessionFile: string
  lockPath: string
  waitedMs: number
  owner: Owner
}

/** What one append wrote. `repair` is set when a torn last line was repaired first. */
export interface AppendResult extends NativeAppendResult {
  entries: number
}

/** The held lock, as the callback sees it. It is dead once the callback has settled. */
export declare class SessionWriteLock {
  /** The `.lock` sidecar: `realpath(dirname(file)) + '/' + basename(file) + '.lock'`. */
  readonly lockPath: string
  /** The transcript, resolved against the working directory. */
  readonly sessionFile: string
  /** The `owner` option this hold was taken with. */
  readonly owner: string | undefined
  /** Whether the lock is still held. */
  readonly held: boolean
  /** Aborted, with a `SessionWriteLockLostError` as its reason, if the hold is revoked. */
  readonly signal: AbortSignal
  /** Throws `SessionWriteLockLostError` unless the lock is held and its sidecar is still ours. */
  assertHeld(): void
  /**
   * Appends one entry or an array of entries as JSONL lines in one contiguous write, after repairing a
   * torn tail; a failed write is rolled back. Synchronous.
   */
  append(entries: unknown): AppendResult
  /**
   * Parses the transcript; an unterminated last line is skipped. Synchronous. `T` is what the caller
   * knows its entries to be (nothing checks it): `lock.read<Entry>()`.
   */
  read<T = unknown>(): T[]
  /** Replaces the transcript atomically (temporary file and rename), keeping its mode. Synchronous. */
  rewrite(entries: unknown): { entries: number; bytes: number }
}

/**
 * The narrow scope: takes the lock, appends one entry or an array of entries as JSONL lines in one
 * contiguous write, and releases. An entry that cannot be serialized rejects with a TypeError before
 * anything is locked or written. Calls on one session with the same options, made before the first of
 * them holds the lock, share its hold and one write (group commit): each caller's lines stay together in
 * call order, each gets its own `offset` and `bytes`, and a failure is every caller's. A call with a
 * `signal` or a hook is never grouped.
 */
export declare function appendSessionEntries(
  sessionFile: string,
  entries: unknown,
  options?: SessionWriteLockOptions,
): Promise<AppendResult>

/** The synchronous twin of `appendSessionEntries`: it blocks the thread while it waits. */
export declare function appendSessionEntriesSync(
  sessionFile: string,
  entries: unknown,
  options?: SessionWriteLockOptions,
): AppendResult

/**
 * Runs `fn(lock)` while holding the session's write lock and releases it however `fn` ends: return,
 * rejection, synchronous throw. `fn`'s value, or the very object it throws, passes through unchanged.
 */
export declare function withSessionWriteLock<T>(
  sessionFile: string,
  options: SessionWriteLockOptions | undefined | null,
  fn: (lock: SessionWriteLock) => T | PromiseLike<T>,
): Promise<Awaited<T>>
export declare function withSessionWriteLock<T>(
  sessionFile: string,
  fn: (lock: SessionWriteLock) => T | PromiseLike<T>,
): Promise<Awaited<T>>

/**
 * The synchronous twin: blocks the thread, and so the event loop, while it waits, as
 * `fs.appendFileSync` does. `fn` must be synchronous.
 */
export declare function withSessionWriteLockSync<T>(
  sessionFile: string,
  options: SessionWriteLockOptions | undefined | null,
  fn: (lock: SessionWriteLock) => T,
): T
export declare function withSessionWriteLockSync<T>(sessionFile: string, fn: (lock: SessionWriteLock) => T): T

export type SessionLockStats = NativeLockStats

/** Process-wide counters and wait/hold percentiles of this package's locks. */
export declare function sessionLockStats(): SessionLockStats

export type SettingSource = 'call' | 'configure' | 'default' | `env:${string}` | `file:${string}`

/** The settings in force, each with its source. */
export interface ResolvedSessionWriteLockConfig {
  configPath: string | null
  acquireTimeoutMs: { value: number; source: SettingSource }
  staleMs: { value: number; source: SettingSource }
  maxHoldMs: { value: number; source: SettingSource }
  noticeAfterMs: { value: number; source: SettingSource }
  durability: { value: Durability; source: SettingSource }
}

export interface SessionWriteLockSettings {
  acquireTimeoutMs?: number
  staleMs?: number
  maxHoldMs?: number
  noticeAfterMs?: number
  durability?: Durability
}

/**
 * Each setting in force and where it came from: per-call `options`, `configureSessionWriteLock`, the
 * environment (`OPENCLAW_SESSION_WRITE_LOCK_*`), `session.writeLock` in `openclaw.json`, or the default.
 */
export declare function resolveSessionWriteLockConfig(
  options?: SessionWriteLockSettings & { configPath?: string },
): ResolvedSessionWriteLockConfig

/**
 * Sets settings from code: above the environment and the file, below per-call options. Every value is
 * validated first (`SessionWriteLockConfigError`); on an error nothing changes. `null` clears a key.
 */
export declare function configureSessionWriteLock(partial: {
  [K in keyof SessionWriteLockSettings]?: SessionWriteLockSettings[K] | null
}): void

/** The built-in limits (the legacy lock's). */
export declare const DEFAULTS: Readonly<{
  acquireTimeoutMs: number
  staleMs: number
  maxHoldMs: number
  noticeAfterMs: number
  durability: Durability
}>

/**
 * Parameters of the legacy `acquireSessionWriteLock` (OpenClaw 2026.2 to 2026.7). As in every legacy
 * generation, a limit that is `undefined`, `null` or a number that is not positive means the setting in
 * force (configuration, else the default); `Infinity` is allowed for `timeoutMs` only.
 */
export interface AcquireSessionWriteLockParams {
  sessionFile: string
  timeoutMs?: number | null
  staleMs?: number | null
  maxHoldMs?: number | null
  /**
   * A call later in the same async flow, while the lock is held, re-enters (counted: the sidecar goes at
   * the last release, in any order). `false` waits like any other caller. Default `true`.
   */
  allowReentrant?: boolean
  /** Aborting it while the call waits rejects with the signal's reason (an `AbortError` if that is not an Error), as 2026.7 did. */
  signal?: AbortSignal | null
  /** This package's: who holds, in words, shown to whoever waits (see `SessionWriteLockOptions.owner`). */
  owner?: string
}

/**
 * Drop-in replacement for the legacy `acquireSessionWriteLock`. Resolves to `{ release }`; each
 * handle's `release` counts once. Two unrelated concurrent callers in one process exclude each other;
 * only a call made later in the same async flow while the lock is held re-enters.
 */
export declare function acquireSessionWriteLock(
  params: AcquireSessionWriteLockParams,
): Promise<{ lockPath?: string; release: () => Promise<void> }>

/** `session.writeLock` of an already loaded `openclaw.json`, as 2026.5+ resolvers take it. */
export interface SessionWriteLockAcquireTimeoutConfig {
  session?: { writeLock?: { acquireTimeoutMs?: number; staleMs?: number; maxHoldMs?: number } }
}

/**
 * The 2026.5+ resolver: `OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS`, else
 * `config.session.writeLock.acquireTimeoutMs`, else 60 000. Unusable values are skipped, by 2026.7's
 * rules (the environment value must be all digits or `Infinity`; every value a positive safe integer).
 */
export declare function resolveSessionWriteLockAcquireTimeoutMs(
  config?: SessionWriteLockAcquireTimeoutConfig,
  env?: NodeJS.ProcessEnv,
): number
/** As `resolveSessionWriteLockAcquireTimeoutMs`, for `staleMs` (default 1 800 000; no `Infinity`). */
export declare function resolveSessionWriteLockStaleMs(
  config?: SessionWriteLockAcquireTimeoutConfig,
  env?: NodeJS.ProcessEnv,
): number
/** As `resolveSessionWriteLockAcquireTimeoutMs`, for `maxHoldMs` (default `fallback`, else 300 000; no `Infinity`). */
export declare function resolveSessionWriteLockMaxHoldMs(
  config?: SessionWriteLockAcquireTimeoutConfig,
  params?: { env?: NodeJS.ProcessEnv; fallback?: number },
): number
/** The three limits, as 2026.5+ call sites spread them into `acquireSessionWriteLock`. */
export declare function resolveSessionWriteLockOptions(
  config?: SessionWriteLockAcquireTimeoutConfig,
  params?: { env?: NodeJS.ProcessEnv; maxHoldMsFallback?: number },
): { timeoutMs: number; staleMs: number; maxHoldMs: number }

/** 60 000, as in 2026.5+ (2026.2 to 2026.4 waited 10 000). */
export declare const DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS: number
/** 1 800 000. */
export declare const DEFAULT_SESSION_WRITE_LOCK_STALE_MS: number
/** 300 000. */
export declare const DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS: number

/**
 * For gateways' own test suites (`afterEach`): ends every hold of this thread (sidecars removed, later
 * writes through them fail with `SESSION_WRITE_LOCK_LOST`) and stops listening for termination signals
 * until the next acquisition.
 */
export declare function resetSessionWriteLockStateForTest(): void
/** The asynchronous twin of `resetSessionWriteLockStateForTest`. */
export declare function drainSessionWriteLockStateForTest(): Promise<void>

/**
 * One sidecar as inspection reports it: the legacy fields plus `kind` and `held`. `stale` (and 2026.7's
 * `removable`, the same) means the cleaner removes it and the next acquirer takes it over;
 * `staleReasons` lists every reason found, including those only reported (`too-old`, a `hold-exceeded`
 * younger than two watchdog intervals of its holder).
 */
export interface SessionLockInspection {
  lockPath: string
  /** Who wrote it; `unsafe` when it could not be inspected because it is not a regular file. */
  kind: Kind | 'unsafe'
  /** Someone holds its kernel lock right now. */
  held: boolean
  pid: number | null
  pidAlive: boolean
  createdAt: string | null
  ageMs: number | null
  mtimeMs?: number
  size?: number
  stale: boolean
  removable: boolean
  staleReasons: string[]
  removed: boolean
  /** Who holds, in words: the holder's `owner` option, and its machine and program, as its payload says. */
  owner?: string
  hostname?: string
  process?: string
  /** Set when the sidecar could not be inspected (`unsafe`: a symlink, a FIFO) or removed (`EACCES`, ...). */
  error?: Error & { code: string }
}

/**
 * Drop-in replacement for the legacy `cleanStaleLockFiles`: scans `*.jsonl.lock` in `sessionsDir` and
 * removes the stale ones, each only under its kernel lock after judging it again.
 */
export declare function cleanStaleLockFiles(params: {
  sessionsDir: string
  staleMs?: number
  removeStale?: boolean
  nowMs?: number
  log?: { warn?: (message: string) => void }
  /** 2026.5+: where `staleMs` comes from when not given (as `resolveSessionWriteLockStaleMs`). */
  config?: SessionWriteLockAcquireTimeoutConfig
  env?: NodeJS.ProcessEnv
  /** 2026.5+: accepted and unused (this cleaner never judges a live holder by its process name). */
  readOwnerProcessArgs?: (pid: number) => string[] | null
}): Promise<{ locks: SessionLockInspection[]; cleaned: SessionLockInspection[] }>

/** Reports every `*.lock` sidecar in `dir`, without disturbing any holder. */
export declare function inspectSessionLocks(dir: string, options?: { staleMs?: number }): SessionLockInspection[]

/**
 * Call once at gateway start: removes stale sidecars in every `agents/<id>/sessions` directory of the
 * state directory (`$OPENCLAW_STATE_DIR`, else `~/.openclaw`), or in `sessionsDirs`.
 */
export declare function recoverSessionLocksOnStartup(options?: {
  stateDir?: string
  sessionsDirs?: string[]
  staleMs?: number
  log?: { warn?: (message: string) => void }
}): Promise<{ dirs: string[]; locks: SessionLockInspection[]; cleaned: SessionLockInspection[] }>

/** The legacy helper: `max(minMs, timeoutMs + graceMs)`, capped; defaults 5 min and 2 min. */
export declare function resolveSessionLockMaxHoldFromTimeout(params: {
  timeoutMs: number
  graceMs?: number
  minMs?: number
}): number

/**
 * The process that held the lock when a wait gave up. It prints (`String(owner)`, a template literal) as
 * the legacy error's `owner` string: `pid=<P> alive=<bool> ageMs=<N>`.
 */
export interface TimeoutOwner {
  pid: number | null
  alive: boolean | null
  /** `kernel` (this package), `legacy` (the JavaScript lock), `in-process`, or `unknown`. */
  kind: OwnerKind
  /** How long it has held the lock, from its payload. */
  heldForMs: number | null
  /** Who holds, in words: the holder's `owner` option, as its payload says. */
  label?: string | null
  /** The holder's machine and program, as its payload says (holders of this package write them). */
  hostname?: string | null
  process?: string | null
}

export declare class SessionWriteLockError extends Error {
  readonly code: string
}

/**
 * The `code` of a lock timeout, the one OpenClaw 2026.5+ detects contention by, whichever of this
 * package's functions raised it.
 */
export declare const SESSION_WRITE_LOCK_TIMEOUT_CODE: 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT'
/** The `code` of OpenClaw 2026.7's stale-lock failure. */
export declare const SESSION_WRITE_LOCK_STALE_CODE: 'OPENCLAW_SESSION_WRITE_LOCK_STALE'

/**
 * The lock stayed busy for the whole timeout: contention, never a model or provider failure. The message
 * starts `session file locked (timeout <N>ms): pid=<P> alive=<bool> ageMs=<N>`, as 2026.7's did (and
 * 2026.2 to 2026.4's up to the pid).
 */
export declare class SessionWriteLockTimeoutError extends SessionWriteLockError {
  /** 2026.5+'s form; this package constructs its own. */
  constructor(params: { timeoutMs: number; owner: string; lockPath: string })
  readonly code: 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT'
  readonly reason: 'session_busy'
  readonly lockPath: string
  readonly timeoutMs: number
  readonly waitedMs: number
  readonly owner: TimeoutOwner
}

/**
 * OpenClaw 2026.7's error for a stale sidecar it would not remove. Never thrown by this package, which
 * waits for such a holder and then times out; exported for code that imports or constructs it.
 */
export declare class SessionWriteLockStaleError extends SessionWriteLockError {
  constructor(params: { owner: string; lockPath: string; staleReasons?: string[] })
  readonly code: 'OPENCLAW_SESSION_WRITE_LOCK_STALE'
  readonly owner: string
  readonly lockPath: string
  readonly staleReasons: string[]
}

/** A lock timeout: `instanceof SessionWriteLockTimeoutError`, or any error with its `code`. */
export declare function isSessionWriteLockTimeoutError(err: unknown): err is SessionWriteLockTimeoutError
/** A stale-lock failure: `instanceof SessionWriteLockStaleError`, or any error with its `code`. */
export declare function isSessionWriteLockStaleError(err: unknown): err is SessionWriteLockStaleError
/** Contention of either kind: what the gateway's failover must answer with "busy, retry", never "model failed". */
export declare function isSessionWriteLockAcquireError(
  err: unknown,
): err is SessionWriteLockTimeoutError | SessionWriteLockStaleError

export declare class SessionWriteLockAbortedError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_ABORTED'
  readonly lockPath: string | undefined
  readonly waitedMs: number
}

/** The hold was released, revoked by the watchdog, or its sidecar was taken over. */
export declare class SessionWriteLockLostError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_LOST'
  readonly lockPath: string
  readonly reason: string
}

/** A nested call with `reentrant: false`. */
export declare class SessionWriteLockReentrancyError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_REENTRANT'
  readonly lockPath: string
}

/** A symlink, directory, FIFO or hard-linked file sits at the lock path; it is left untouched. */
export declare class SessionWriteLockUnsafePathError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_UNSAFE_PATH'
  readonly path: string
}

/** `lock.read()` met an invalid line. */
export declare class SessionTranscriptCorruptError extends SessionWriteLockError {
  readonly code: 'SESSION_TRANSCRIPT_CORRUPT'
  readonly path: string
  readonly line: number
}

/** `lock.read()` of a transcript larger than a JavaScript string can hold; nothing was read. */
export declare class SessionTranscriptTooLargeError extends SessionWriteLockError {
  readonly code: 'SESSION_TRANSCRIPT_TOO_LARGE'
  readonly path: string
  readonly size: number
  /** `buffer.constants.MAX_STRING_LENGTH`. */
  readonly limit: number
}

/** The session directory is on a network filesystem and no opt-in was given. */
export declare class SessionWriteLockNetworkFilesystemError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_NETWORK_FS'
  readonly path: string
  /** `nfs`, `smb`, `cifs`, `smb2`, `ceph`, `afs`, ... */
  readonly filesystem: string
}

/** An invalid configuration value, an unreadable `openclaw.json`, or invalid JSON5 in it. */
export declare class SessionWriteLockConfigError extends SessionWriteLockError {
  readonly code: 'SESSION_WRITE_LOCK_CONFIG'
  /** `file:<path>`, `env:<NAME>` or `configure`. */
  readonly source: string
  readonly key?: string
  readonly value?: string
  readonly expected?: string
  readonly path?: string
  readonly line?: number
  readonly column?: number
}

// Tracing (docs/tracing.md). Subscribe by name with node:diagnostics_channel; nothing is published, or
// even computed, while nobody subscribes.

/** The plain channels, `session-write-lock:<event>`, and what each publishes. */
export interface SessionWriteLockChannelMessages {
  /** A call has to wait: published once, when its wait starts. */
  'session-write-lock:wait': TraceLockFields & { holder: WaitNotice['owner'] }
  /** A lock was acquired. `tookOver`: the stale or crashed holder whose sidecar it took, if any. */
  'session-write-lock:acquire': TraceLockFields & { waitedMs: number; tookOver: TraceTakeover | null }
  /** The last holder released the lock (not published for a hold that was revoked). */
  'session-write-lock:release': TraceLockFields & { waitedMs: number; heldMs: number }
  /** A hold ended without a release: `maxHoldMs`, a replaced sidecar, a signal, a test reset. */
  'session-write-lock:revoke': TraceLockFields & {
    reason: string
    /** Until the revocation reached JavaScript; `null` if the hold was already gone. */
    heldMs: number | null
    error: SessionWriteLockLostError
  }
  /** An acquisition took the sidecar over from a stale or crashed holder (also in `acquire`'s `tookOver`). */
  'session-write-lock:takeover': TraceLockFields & { previousPid: number | null; reasons: string[] }
  /** An append repaired a torn last line of the transcript first. */
  'session-write-lock:repair': TraceLockFields & {
    repair: NonNullable<AppendResult['repair']>
    quarantinePath: string | null
  }
}

/** What every plain channel's message carries. */
export interface TraceLockFields {
  /** The transcript, resolved. */
  sessionFile: string
  /** Its `.lock` sidecar. */
  lockPath: string
  /** The `owner` option of the call (this process's side), if it gave one. */
  owner: string | undefined
}

/** A previous holder whose sidecar an acquisition took over. */
export interface TraceTakeover {
  /** Its pid, as its payload said. */
  pid: number | null
  /** The stale rules that applied (`dead-pid`, `recycled-pid`, …), or `crashed` for a holder of this protocol. */
  reasons: string[]
}

/**
 * The context of a span on the tracing channels `session-write-lock:<call>` (`tracing:…:start`, `end`,
 * `asyncStart`, `asyncEnd`, `error`), one per call of `withSessionWriteLock`, `withSessionWriteLockSync`,
 * `appendSessionEntries`, `appendSessionEntriesSync` and `acquireSessionWriteLock` (whose span ends at
 * the acquisition). One object for the whole span, filled in as the call proceeds.
 */
export interface SessionWriteLockSpanContext {
  /** As given (resolved when it is a string): the span starts before the arguments are checked. */
  sessionFile: unknown
  owner: string | undefined
  /** Set once the lock is acquired (or re-entered). */
  lockPath: string | undefined
  waitedMs: number | undefined
  /** Set at the release (not for `acquireSessionWriteLock`, whose span ends before it). */
  heldMs: number | undefined
  /** The call re-entered a hold of its own async flow. */
  reentered?: true
  /** `appendSessionEntries`: how many calls shared the hold and the write (group commit). */
  batched?: number
  /** What the call returned (Node's tracing channels set it). */
  result?: unknown
  /** What the call threw, unchanged: a `SessionWriteLockTimeoutError` when the session was busy. */
  error?: unknown
}
