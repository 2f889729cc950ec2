'use strict'

// One benchmark process: `node worker.js <mode> <contender> <file-or-dir> [args...]`, the mode one of
// MODES below, each commented with the metric of bench.js it serves. Reports JSON lines on stdout;
// timestamps are process.hrtime (CLOCK_MONOTONIC), which every process on the machine shares.

const fs = require('node:fs')
const path = require('node:path')
const { monitorEventLoopDelay } = require('node:perf_hooks')

const { load } = require('./contenders')

const [mode, contender, target, ...args] = process.argv.slice(2)
const now = () => Number(process.hrtime.bigint()) / 1e6 // ms, monotonic, machine-wide
const out = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`)
const ENTRY = { role: 'assistant', content: 'x'.repeat(960), model: 'bench', usage: { input: 1, output: 2 } }

function commands(handlers) {
  let buf = ''
  // The bench is gone (it ended, or was killed): so is this worker, even with its lock's waits blocking
  // threads that would keep process.exit() from returning (fs-ext).
  process.stdin.on('end', () => process.kill(process.pid, 'SIGKILL'))
  process.stdin.setEncoding('utf8').on('data', (chunk) => {
    buf += chunk
    for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) handlers[buf.slice(0, nl)]?.()
  })
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN
}

const MODES = {
  // Metric 1: acquire + release of one session, one process, no contention.
  roundtrip: async (lock) => {
    const file = path.join(target, 'session.jsonl')
    const n = Number(args[0])
    for (let i = 0; i < Math.min(50, n); i++) await lock.withLock(file, () => {}) // warm-up
    const times = []
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint()
      await lock.withLock(file, () => {})
      times.push(Number(process.hrtime.bigint() - t) / 1000)
    }
    times.sort((a, b) => a - b)
    return out({ medianUs: percentile(times, 0.5), p99Us: percentile(times, 0.99) })
  },
  // Metric 1b, tracing: blocks of round trips alternating between nobody subscribed and a no-op
  // subscriber on every channel of the package, side by side in one process; and the cost of the
  // `hasSubscribers` checks an uncontended round trip makes when nobody subscribes, timed alone.
  tracing: async (lock) => {
    const dc = require('node:diagnostics_channel')
    const file = path.join(target, 'session.jsonl')
    const [blocks, perBlock] = [Number(args[0]), Number(args[1])]
    const plain = ['wait', 'acquire', 'release', 'revoke', 'takeover', 'repair'].map((e) =>
      dc.channel(`session-write-lock:${e}`),
    )
    const calls = ['withSessionWriteLock', 'withSessionWriteLockSync', 'appendSessionEntries']
    const spans = calls.map((c) => dc.tracingChannel(`session-write-lock:${c}`))
    const noop = () => {}
    const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop }
    const subscribe = (on) => {
      for (const c of plain) c[on ? 'subscribe' : 'unsubscribe'](noop)
      for (const t of spans) t[on ? 'subscribe' : 'unsubscribe'](handlers)
    }
    const block = async (into) => {
      for (let i = 0; i < perBlock; i++) {
        const t = process.hrtime.bigint()
        await lock.withLock(file, () => {})
        into.push(Number(process.hrtime.bigint() - t) / 1000)
      }
    }
    const [off, on] = [[], []]
    await block([]) // warm-up, both ways
    subscribe(true)
    await block([])
    subscribe(false)
    for (let b = 0; b < blocks; b++) {
      await block(off)
      subscribe(true)
      await block(on)
      subscribe(false)
    }
    // The checks of one uncontended withSessionWriteLock with nobody subscribed: its span (twice),
    // acquire, takeover, release.
    const [span, acquire, takeover, release] = [spans[0], plain[1], plain[4], plain[2]]
    // (The span's check is made twice: once to build its context, once to start it.)
    const spanChecked = () => span.hasSubscribers
    const checks = () =>
      spanChecked() ||
      span.hasSubscribers ||
      acquire.hasSubscribers ||
      takeover.hasSubscribers ||
      release.hasSubscribers
    const loops = 2_000_000
    let any = false
    const t = process.hrtime.bigint()
    for (let i = 0; i < loops; i++) any = checks() || any
    const checksNs = Number(process.hrtime.bigint() - t) / loops
    if (any) throw new Error('a channel had subscribers')
    off.sort((a, b) => a - b)
    on.sort((a, b) => a - b)
    return out({ offUs: percentile(off, 0.5), onUs: percentile(on, 0.5), checksNs })
  },
  // Metric 2: one side of a handoff pair, driven by the parent.
  peer: async (lock) => {
    let release
    commands({
      acquire: () =>
        lock.withLock(target, async () => {
          out({ event: 'held', t: now() })
          await new Promise((r) => (release = r))
          out({ event: 'releasing', t: now() })
        }),
      release: () => release(),
      exit: () => process.exit(0),
    })
    return out({ event: 'ready' })
  },
  // Metric 3: locked appends of one ~1 KiB entry, one process.
  throughput: async (lock) => {
    const file = path.join(target, 'session.jsonl')
    const n = Number(args[0])
    for (let i = 0; i < Math.min(50, n); i++) await lock.append(file, { ...ENTRY, warm: i }) // warm-up
    const t = now()
    for (let i = 0; i < n; i++) await lock.append(file, { ...ENTRY, i })
    const ms = now() - t
    return out({ recordsPerSec: (n * 1000) / ms })
  },
  // Metric 7: group commit: many callers of one process append to one session at once, each awaiting
  // its own appends one by one.
  group: async (lock) => {
    const file = path.join(target, 'session.jsonl')
    const [callers, each] = args.map(Number)
    const t = now()
    await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        for (let i = 0; i < each; i++) await lock.append(file, { ...ENTRY, c, i })
      }),
    )
    const ms = now() - t
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length
    return out({ recordsPerSec: (callers * each * 1000) / ms, lines })
  },
  // Metric 4: one of the contending appenders; starts on "go", reports the longest of its appends.
  appender: async (lock) => {
    const n = Number(args[0])
    commands({
      go: async () => {
        let longestMs = 0
        for (let i = 0; i < n; i++) {
          const t = now()
          await lock.append(target, { ...ENTRY, pid: process.pid, i })
          longestMs = Math.max(longestMs, now() - t)
        }
        out({ event: 'done', t: now(), longestMs })
        process.exit(0)
      },
    })
    return out({ event: 'ready' })
  },
  // Metric 5, holder side: hold the lock for a while, then report when it let go.
  hold: async (lock) => {
    await lock.withLock(target, async () => {
      out({ event: 'held', t: now() })
      await new Promise((r) => setTimeout(r, Number(args[0])))
      out({ event: 'releasing', t: now() })
    })
    return
  },
  // Metric 5, CPU: 100 callers wait on the held lock, and nothing else runs in this process. Reports
  // the CPU time spent from the start of the wait until the first caller gets the lock.
  'waiters-quiet': async (lock) => {
    const count = Number(args[0])
    commands({
      go: () => {
        const cpu0 = process.cpuUsage()
        let reported = false
        for (let i = 0; i < count; i++) {
          lock.withLock(target, () => {
            if (reported) return
            reported = true
            const c = process.cpuUsage(cpu0)
            out({ event: 'report', cpuWaitingMs: (c.user + c.system) / 1000 })
            setImmediate(() => process.exit(0))
          })
        }
      },
    })
    return out({ event: 'ready' })
  },
  // Metric 5, latency: the same wait, with the event loop and the threadpool probed meanwhile.
  waiters: async (lock) => {
    const count = Number(args[0])
    const probe = path.join(path.dirname(target), 'probe.txt')
    fs.writeFileSync(probe, 'x'.repeat(4096))
    const readLatency = async () => {
      const t = now()
      await fs.promises.readFile(probe)
      return now() - t
    }
    // Idle reads are spaced as the reads during the wait are (20 ms apart): read back to back, they
    // found warm caches that a read after a pause does not, which made every wait look dearer.
    const idle = []
    for (let i = 0; i < 30; i++) {
      idle.push(await readLatency())
      await new Promise((r) => setTimeout(r, 20))
    }
    commands({
      go: async () => {
        const delay = monitorEventLoopDelay({ resolution: 1 })
        delay.enable()
        let firstIn = null
        const done = []
        const waiters = Array.from({ length: count }, () =>
          lock.withLock(target, () => {
            if (firstIn === null) {
              firstIn = now()
              delay.disable()
            }
            done.push(now())
          }),
        )
        const busy = []
        let finished = false
        Promise.all(waiters).then(() => (finished = true))
        while (!finished && firstIn === null) {
          busy.push(await readLatency())
          await new Promise((r) => setTimeout(r, 20))
        }
        await Promise.all(waiters)
        idle.sort((a, b) => a - b)
        busy.sort((a, b) => a - b)
        out({
          event: 'report',
          p99DelayMs: delay.percentile(99) / 1e6,
          readIdleMs: percentile(idle, 0.5),
          readBusyMs: percentile(busy, 0.5),
          firstIn,
          lastDone: Math.max(...done),
          through: done.length,
        })
        process.exit(0)
      },
    })
    return out({ event: 'ready' })
  },
  // The floor under metric 2: the one-way latency of waking an idle Node process through a pipe.
  'pipe-peer': async () => {
    process.stdin.on('data', () => out({ event: 'woke', t: now() }))
    return out({ event: 'ready' })
  },
  // Metric 6: many distinct sessions locked and released; descriptors and RSS before and after.
  // After a warm-up of the same work (so that V8 has sized its heap for it), then a settle with
  // collections (finalizers of native objects run a tick after the collection that frees them).
  scale: async (lock) => {
    const n = Number(args[0])
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        global.gc?.()
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    for (let i = 0; i < n / 5; i++) await lock.withLock(path.join(target, `warm-${i}.jsonl`), () => {})
    await settle()
    const before = { fds: fds(), ...process.memoryUsage() }
    for (let i = 0; i < n; i++) await lock.withLock(path.join(target, `s-${i}.jsonl`), () => {})
    await settle()
    const after = { fds: fds(), ...process.memoryUsage() }
    return out({
      fdsBefore: before.fds,
      fdsAfter: after.fds,
      rssGrowthMb: (after.rss - before.rss) / 2 ** 20,
      heapGrowthMb: (after.heapUsed - before.heapUsed) / 2 ** 20,
    })
  },
}

async function main() {
  const lock = await load(contender)
  if (!Object.hasOwn(MODES, mode)) throw new Error(`unknown mode ${mode}`)
  return MODES[mode](lock)
}

/** How a contender failed, for the bench to report (its stack goes to stderr). */
function failed(err) {
  process.stderr.write(`${err?.stack ?? err}\n`)
  out({ event: 'error', message: String(err?.message ?? err).split('\n')[0] })
  process.exit(1)
}

process.on('uncaughtException', failed)
process.on('unhandledRejection', failed)
main().catch(failed)
