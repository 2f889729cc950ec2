'use strict'

// `session-write-lock doctor [dirs...] [--fix] [--json]`: finds sidecars that would block a session and
// removes the stale ones safely.

const fs = require('node:fs')
const path = require('node:path')

const { inspectSessionLocks, removeIfStale, resolveStateDir, sessionDirectories } = require('./cleanup')
const { resolveSessionWriteLockConfig, KEYS } = require('./config')

const USAGE = `Usage: session-write-lock doctor [dirs...] [--fix] [--json]

Inspects every *.lock sidecar in the given session directories (a state directory,
one with agents/, stands for its agents/*/sessions/; default: those under
$OPENCLAW_STATE_DIR, else ~/.openclaw) and reports each one:
  held     a live holder of this package holds its kernel lock
  live     a legacy (JavaScript) holder that may still be running
  fresh    empty or malformed, but too recent to judge (kept until unchanged for 30 s)
  stale    the next acquirer would take it over (the reasons say why)
  unsafe   not a regular file (symlink, directory, FIFO, hard link): remove it by hand
  error    could not be inspected or removed (EACCES, ...): the error says why

Options:
  --fix    remove stale sidecars, each only after taking its kernel lock and judging
           it again; a held, live or fresh sidecar is never removed
  --json   print a JSON report instead of a table
  --help   show this text

Exit status: 0 when nothing is stale, unsafe or failed (or --fix removed every stale
one), 1 when such sidecars remain, 2 on a usage error (an unknown option, a directory
that does not exist or is not a directory).
`

function parseArgs(argv) {
  const opts = { fix: false, json: false, dirs: [] }
  for (const arg of argv) {
    if (arg === '--fix') opts.fix = true
    else if (arg === '--json') opts.json = true
    else if (arg === '--help' || arg === '-h') opts.help = true
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`)
    else opts.dirs.push(path.resolve(arg))
  }
  return opts
}

/**
 * The session directories a named directory stands for: itself, or, for a state directory (one with
 * `agents/`), every `agents/<id>/sessions` in it. A path that is missing or not a directory is a usage
 * error, never "healthy".
 */
function sessionDirsOf(dir) {
  let st
  try {
    st = fs.statSync(dir)
  } catch {
    throw new Error(`${dir}: no such directory`)
  }
  if (!st.isDirectory()) throw new Error(`${dir}: not a directory (name a sessions directory or a state directory)`)
  if (fs.existsSync(path.join(dir, 'agents'))) return sessionDirectories(dir)
  return [dir]
}

/** A setting's value for JSON: numbers stay numbers; Infinity, which JSON cannot carry, is the string "Infinity". */
const jsonValue = (v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)

function status(lock) {
  if (lock.removed) return 'removed'
  if (lock.kind === 'unsafe') return 'unsafe'
  if (lock.error) return 'error'
  if (lock.held) return 'held'
  if (lock.stale) return 'stale'
  return lock.kind === 'unknown' ? 'fresh' : 'live'
}

/** Who holds, in words: the holder's `owner`, else its program and machine, as its payload says. */
function holder(l) {
  if (l.owner) return l.owner.length > 40 ? `${l.owner.slice(0, 39)}…` : l.owner
  if (l.process || l.hostname) return [l.process, l.hostname].filter(Boolean).join('@')
  return '-'
}

function age(ms) {
  if (ms === null || ms === undefined) return '-'
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`
  return `${Math.round(ms / 3_600_000)}h`
}

function table(rows) {
  const header = ['STATUS', 'KIND', 'PID', 'ALIVE', 'AGE', 'OWNER', 'REASONS', 'LOCK']
  const cells = rows.map((l) =>
    [
      status(l),
      l.kind,
      l.pid ?? '-',
      l.pid === null || l.pid === undefined ? '-' : l.pidAlive ? 'yes' : 'no',
      age(l.ageMs),
      holder(l),
      l.error ? l.error.code : l.staleReasons.join(',') || '-',
      l.lockPath,
    ].map(String),
  )
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  return [header, ...cells]
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n')
}

async function doctor(argv, { out = process.stdout, err = process.stderr } = {}) {
  let opts
  try {
    opts = parseArgs(argv)
  } catch (e) {
    err.write(`session-write-lock doctor: ${e.message}\n\n${USAGE}`)
    return 2
  }
  if (opts.help) {
    out.write(USAGE)
    return 0
  }
  const stateDir = opts.dirs.length ? null : resolveStateDir()
  let dirs
  try {
    dirs = opts.dirs.length ? opts.dirs.flatMap(sessionDirsOf) : sessionDirectories(stateDir)
  } catch (e) {
    err.write(`session-write-lock doctor: ${e.message}\n`)
    return 2
  }
  let config
  try {
    config = resolveSessionWriteLockConfig()
  } catch (e) {
    err.write(`session-write-lock doctor: ${e.message}\n`)
    return 1
  }
  const staleMs = config.staleMs.value
  const locks = []
  let unreadable = 0
  for (const dir of dirs) {
    let found
    try {
      found = inspectSessionLocks(dir, { staleMs })
    } catch (e) {
      err.write(`session-write-lock doctor: cannot scan ${dir}: ${e.code ?? ''} ${e.message}\n`)
      unreadable++
      continue
    }
    for (const lock of found) {
      locks.push(
        opts.fix && lock.stale
          ? (removeIfStale(lock.lockPath, staleMs, undefined, lock) ?? { ...lock, removed: true })
          : lock,
      )
    }
  }
  const remaining = locks.filter((l) => ['stale', 'unsafe', 'error'].includes(status(l)))
  if (opts.json) {
    const report = locks.map(({ error, ...l }) => ({
      ...l,
      status: status(l),
      ...(error && { error: { code: error.code, message: error.message } }),
    }))
    const settings = Object.fromEntries(KEYS.map((k) => [k, { ...config[k], value: jsonValue(config[k].value) }]))
    const json = {
      stateDir,
      dirs,
      config: { configPath: config.configPath, ...settings },
      locks: report,
      problems: remaining.length,
    }
    out.write(`${JSON.stringify(json, null, 2)}\n`)
  } else {
    const file = config.configPath
      ? ` (file: ${config.configPath}${fs.existsSync(config.configPath) ? '' : ', which does not exist: the defaults apply'})`
      : ''
    out.write(`configuration${file}:\n`)
    for (const k of KEYS) out.write(`  ${k.padEnd(17)}${String(config[k].value).padEnd(10)} ${config[k].source}\n`)
    out.write(
      `scanned ${dirs.length} session director${dirs.length === 1 ? 'y' : 'ies'}${stateDir ? ` under ${stateDir}` : ''}\n`,
    )
    if (stateDir && !fs.existsSync(stateDir)) {
      out.write(
        `the state directory ${stateDir} does not exist: set OPENCLAW_STATE_DIR, or name the session directories\n`,
      )
    } else if (stateDir && dirs.length === 0) {
      out.write(`no agents/*/sessions directory under ${stateDir}\n`)
    }
    if (locks.length) out.write(`${table(locks)}\n`)
    const removed = locks.filter((l) => l.removed).length
    const stale = locks.filter((l) => status(l) === 'stale').length
    out.write(
      `${locks.length} sidecar(s): ${removed} removed, ${stale} stale, ` +
        `${locks.filter((l) => status(l) === 'unsafe').length} unsafe` +
        `${locks.some((l) => status(l) === 'error') ? `, ${locks.filter((l) => status(l) === 'error').length} failed` : ''}` +
        `${stale && !opts.fix ? ' (run with --fix to remove the stale ones)' : ''}\n`,
    )
  }
  return remaining.length || unreadable ? 1 : 0
}

module.exports = { doctor }
