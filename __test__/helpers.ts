// Test helpers: temporary session directories and real child processes that speak JSON lines.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const FIXTURES = path.join(__dirname, 'fixtures')

// Tests never read the machine's own OpenClaw configuration: point every lookup at a file that does not
// exist, and drop any lock settings from the environment. Child processes inherit this.
process.env.OPENCLAW_CONFIG_PATH = path.join(os.tmpdir(), 'swl-tests-no-such-openclaw.json')
for (const name of Object.keys(process.env)) {
  if (name.startsWith('OPENCLAW_SESSION_WRITE_LOCK_')) delete process.env[name]
}

/** A fresh directory with a session path in it, removed when the test ends. */
export function tempSession(t: { after: (fn: () => void) => void }, name = 'session.jsonl') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-test-'))
  // Retries: on Windows a file still open elsewhere for a moment (a child that is exiting, a wait that is
  // letting go) keeps its directory from being removed.
  t.after(() => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20 }))
  const file = path.join(dir, name)
  return { dir, file, lockPath: path.join(fs.realpathSync(dir), `${name}.lock`) }
}

export interface ChildEvent {
  event: string
  pid: number
  t: number
  [key: string]: unknown
}

/** A child process running a fixture script, with its stdout parsed into events. */
export class Child {
  readonly proc: ChildProcess
  readonly events: ChildEvent[] = []
  readonly exited: Promise<number | null>
  private waiters: Array<() => void> = []
  stderr = ''

  constructor(script: string, args: string[], env: NodeJS.ProcessEnv = {}, node: string = process.execPath) {
    this.proc = spawn(node, [path.join(FIXTURES, script), ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
    let buf = ''
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.startsWith('{')) this.events.push(JSON.parse(line))
        for (const w of this.waiters.splice(0)) w()
      }
    })
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code) => {
        for (const w of this.waiters.splice(0)) w()
        resolve(code)
      }),
    )
  }

  get pid(): number {
    return this.proc.pid!
  }

  /** Resolves with the first event named `name`; rejects if the child exits first or time runs out. */
  async waitFor(name: string, timeoutMs = 20_000): Promise<ChildEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find((e) => e.event === name)
      if (found) return found
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`child ${this.pid} exited before "${name}": ${JSON.stringify(this.events)} ${this.stderr}`)
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for "${name}" from child ${this.pid}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  send(line: string) {
    this.proc.stdin!.write(`${line}\n`)
  }

  kill(signal: NodeJS.Signals = 'SIGKILL') {
    this.proc.kill(signal)
  }
}

/** Spawns the lock fixture; kills it when the test ends if it is still running. */
export function lockChild(t: { after: (fn: () => void) => void }, args: string[], env?: NodeJS.ProcessEnv) {
  const child = new Child('lock-child.js', args, env)
  t.after(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.kill()
  })
  return child
}

type T = { after: (fn: () => void) => void }

/** What generationChild needs of a prepared OpenClaw generation (scripts/openclaw-generations.js). */
export interface GenerationRef {
  entry: string
  node: string
}

/**
 * Spawns generation-child.mjs for a published OpenClaw generation (with that generation's Node) or for
 * `'ours'` (with this Node); kills it when the test ends if it is still running. `args` are MODE FILE ...;
 * `looksLike: 'plain'` gives the child a command line that does not look like OpenClaw's.
 */
export function generationChild(
  t: T,
  gen: GenerationRef | 'ours',
  args: string[],
  opts: { looksLike?: 'openclaw' | 'plain'; env?: NodeJS.ProcessEnv } = {},
) {
  const entry = gen === 'ours' ? 'ours' : gen.entry
  const node = gen === 'ours' ? process.execPath : gen.node
  const child = new Child('generation-child.mjs', [entry, opts.looksLike ?? 'openclaw', ...args], opts.env, node)
  t.after(() => {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.kill()
  })
  return child
}

/**
 * Runs `contend` children (`impls[i]` is 'native' or 'legacy') against one session and checks the
 * witness: nobody was inside with someone else, no increment was lost, every transcript line is whole.
 */
export async function contend(t: T, impls: Array<'native' | 'legacy'>, each: number) {
  const { file, dir } = tempSession(t)
  const witness = `${dir}/witness`
  fs.writeFileSync(witness, '0')
  const children = impls.map((impl) =>
    lockChild(t, ['contend', file, String(each), witness], impl === 'legacy' ? { LOCK_IMPL: 'legacy' } : {}),
  )
  for (const c of children) {
    const code = await c.exited
    if (code !== 0) throw new Error(`child exited ${code}: ${c.stderr} ${JSON.stringify(c.events)}`)
  }
  const total = impls.length * each
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  return {
    overlaps: fs.existsSync(`${witness}.overlaps`) ? fs.readFileSync(`${witness}.overlaps`, 'utf8') : '',
    counter: Number(fs.readFileSync(witness, 'utf8')),
    total,
    tail: lines.pop(),
    lines: lines.map((l) => JSON.parse(l)),
    sidecarLeft: fs.existsSync(`${file}.lock`),
  }
}

/** Set by scripts/test-windows.sh: the Windows Node runs under Wine, not Windows. */
export const UNDER_WINE = process.env.SWL_TEST_UNDER_WINE === '1'

/**
 * Does deleting a file take its name away while another handle still has it open? Always on POSIX; on
 * Windows only with POSIX delete semantics (NTFS on Windows 10 and later; not FAT, not Wine). Where it
 * does not, nobody can replace a sidecar that is held, and the tests of that race have nothing to test.
 */
export function namesVanishWhileOpen(dir: string): boolean {
  const probe = path.join(dir, '.vanish-probe')
  const fd = fs.openSync(probe, 'w')
  try {
    fs.unlinkSync(probe)
    return !fs.existsSync(probe)
  } finally {
    fs.closeSync(fd)
    fs.rmSync(probe, { force: true })
  }
}

/** A live process that is neither this one nor a lock child: its pid, for payloads of a live holder. */
export function livePid(t: { after: (fn: () => void) => void }): number {
  const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' })
  t.after(() => proc.kill())
  return proc.pid as number
}

/** A path as a regular expression that matches it literally (Windows paths are full of backslashes). */
export const literally = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))

/** The pid of a process that has exited and been reaped (a Node that ran nothing: works on every OS). */
export function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid as number
}

/**
 * Options for `spawnSync` of a child that runs our code: a child that hangs is killed after two minutes,
 * so the test fails with its name instead of blocking its file (a synchronous spawn blocks the event
 * loop, and with it node:test's own timeout).
 */
export const BOUNDED = { timeout: 120_000, killSignal: 'SIGKILL' } as const

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The warnings with these codes that the test causes on purpose: taken here instead of printed (they are
 * not failures), and returned for the test to check. Other warnings go out as usual.
 */
export function expectWarnings(t: { after: (fn: () => void) => void }, codes: string[]) {
  const captured: Array<{ code: string; message: string }> = []
  const original = process.emitWarning
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const options = rest[0]
    const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1]
    if (typeof code === 'string' && codes.includes(code)) {
      captured.push({ code, message: String(warning) })
      return
    }
    return (original as (...args: unknown[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
  t.after(() => {
    process.emitWarning = original
  })
  return captured
}
