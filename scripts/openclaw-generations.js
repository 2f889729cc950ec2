#!/usr/bin/env node
'use strict'

// The real, published session write lock of several OpenClaw releases, fetched from the npm registry and
// cut down to the lock's own modules, so that specs can run it in child processes next to this package.
//
//   const { GENERATIONS, ensureGeneration, ensureAll } = require('./scripts/openclaw-generations.js')
//   const gen = await ensureGeneration('2026.5.22') // { version, name, dir, entry, node, nodeVersion, exports }
//   spawn(gen.node, ['__test__/fixtures/generation-child.mjs', gen.entry, 'openclaw', 'hold', file])
//
// Nothing of OpenClaw's is committed here: at setup time the release is `npm pack`ed, the modules of the
// lock are found by their `//#region` markers (the chunk names are hashes that change with every
// release), and only their import closure is copied into target/openclaw-generations/<version>/, with
// exactly the npm packages that closure imports, at the versions the release pins. entry.mjs there is one
// ESM facade with the same export names for every generation. `npm install openclaw` is never run: its
// dependency tree has a git dependency.
//
// Run as a script, it prepares every generation and prints what it found.

const { execFile } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const GENERATIONS = [
  { name: '2026.2', version: '2026.2.17' },
  { name: '2026.4', version: '2026.4.15' },
  { name: '2026.5', version: '2026.5.22' },
  { name: '2026.7', version: '2026.7.1' },
]

const REPO = path.join(__dirname, '..')
const ROOT = path.join(REPO, 'target', 'openclaw-generations')
/** Bumped whenever the layout of a prepared generation changes: older caches are then prepared again. */
const FORMAT = 1
const MARKER = 'generation.json'
const NODE_CHECKS = 'node-checks.json'
/** The Node fetched from the registry when the running one cannot load a generation. */
const FALLBACK_NODE = 'node@24'
const FALLBACK_NODE_FILE = path.join(ROOT, 'fallback-node.json')

/** The names entry.mjs exports, when the generation has them. */
const EXPORT_NAMES = [
  'acquireSessionWriteLock',
  'cleanStaleLockFiles',
  'resolveSessionLockMaxHoldFromTimeout',
  'resolveSessionWriteLockOptions',
  'resolveSessionWriteLockAcquireTimeoutMs',
  'resolveSessionWriteLockStaleMs',
  'resolveSessionWriteLockMaxHoldMs',
  'DEFAULT_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS',
  'DEFAULT_SESSION_WRITE_LOCK_STALE_MS',
  'DEFAULT_SESSION_WRITE_LOCK_MAX_HOLD_MS',
  'drainSessionWriteLockStateForTest',
  'resetSessionWriteLockStateForTest',
  'SessionWriteLockTimeoutError',
  'SessionWriteLockStaleError',
  'isSessionWriteLockTimeoutError',
  'isSessionWriteLockAcquireError',
  'noteSessionLockHealth',
]

const REGION = {
  lock: 'src/agents/session-write-lock.ts',
  error: 'src/agents/session-write-lock-error.ts',
  doctor: 'src/commands/doctor-session-locks.ts',
  pidAlive: 'src/shared/pid-alive.ts',
  scopedMap: 'src/shared/process-scoped-map.ts',
}

// ---------------------------------------------------------------------------------------------------
// Small utilities

function run(file, args, opts = {}) {
  // npm and npx are .cmd scripts on Windows, which only a shell runs.
  const shell = process.platform === 'win32' && /^(npm|npx)$/.test(file)
  return new Promise((resolve, reject) => {
    execFile(
      file,
      shell ? args.map((a) => `"${a}"`) : args,
      { maxBuffer: 64 * 1024 * 1024, timeout: 300_000, shell, ...opts },
      (err, stdout, stderr) => {
        if (err) {
          err.message = `${file} ${args.join(' ')} failed: ${err.message}\n${String(stderr).trim()}`
          err.stderr = String(stderr)
          reject(err)
        } else resolve({ stdout: String(stdout), stderr: String(stderr) })
      },
    )
  })
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

/** Writes a file under a temporary name and renames it into place: readers never see half of it. */
function writeFileAtomic(file, text) {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`
  fs.writeFileSync(tmp, text)
  fs.renameSync(tmp, file)
}

function rmrf(p) {
  fs.rmSync(p, { recursive: true, force: true, maxRetries: 10 })
}

/** The `M.m.p` numbers of a version string (`v22.19.0`, `22.19`, `24`), missing parts as 0. */
function parseVersion(v) {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(String(v).trim())
  if (!m) throw new Error(`not a version: ${v}`)
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)]
}

function compareVersions(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  return 0
}

/** Whether `version` satisfies an `engines` range made of `||`-joined sets of `>= > < <= =` comparators. */
function satisfies(version, range) {
  const v = parseVersion(version)
  return String(range)
    .split('||')
    .some((set) => {
      const comparators = set.trim().match(/(>=|<=|>|<|=|\^|~)?\s*v?\d+(?:\.\d+){0,2}/g) ?? []
      return comparators.every((c) => {
        const written = /^(>=|<=|>|<|=|\^|~)?/.exec(c)[1] ?? ''
        const op = written || '='
        const w = parseVersion(c.slice(written.length).trim())
        const cmp = compareVersions(v, w)
        if (op === '>=') return cmp >= 0
        if (op === '>') return cmp > 0
        if (op === '<=') return cmp <= 0
        if (op === '<') return cmp < 0
        if (op === '^') return cmp >= 0 && v[0] === w[0]
        if (op === '~') return cmp >= 0 && v[0] === w[0] && v[1] === w[1]
        return cmp === 0
      })
    })
}

/** The lowest version a range admits: the largest lower bound of its loosest `||` branch. */
function minimumVersion(range) {
  let best
  for (const set of String(range).split('||')) {
    let low = [0, 0, 0]
    for (const c of set.trim().match(/(>=|<=|>|<|=|\^|~)?\s*v?\d+(?:\.\d+){0,2}/g) ?? []) {
      if (c.startsWith('<')) continue
      const w = parseVersion(c.replace(/^(>=|>|=|\^|~)\s*/, ''))
      if (compareVersions(w, low) > 0) low = w
    }
    if (!best || compareVersions(low, best) < 0) best = low
  }
  return best ? best.join('.') : '0.0.0'
}

// ---------------------------------------------------------------------------------------------------
// Reading rolldown chunks

/** The text of `//#region NAME` up to and including its `//#endregion` line, byte for byte. */
function regionText(source, region) {
  const marker = `//#region ${region}\n`
  const start = source.startsWith(marker) ? 0 : source.indexOf(`\n${marker}`) + 1
  if (start === 0 && !source.startsWith(marker)) return undefined
  const endMarker = '\n//#endregion'
  const end = source.indexOf(endMarker, start)
  if (end < 0) return undefined
  let stop = end + endMarker.length
  if (source[stop] === '\n') stop++
  return source.slice(start, stop)
}

function regionsOf(source) {
  return [...source.matchAll(/^\/\/#region (.+)$/gm)].map((m) => m[1].trim())
}

/** `local -> exported` from a chunk's final `export { a as b, c };` statement. */
function parseExports(source) {
  const all = [...source.matchAll(/^export\s*\{([^}]*)\}\s*;?\s*$/gm)]
  const map = new Map()
  if (all.length === 0) return map
  for (const part of all[all.length - 1][1].split(',')) {
    const item = part.trim()
    if (!item) continue
    const m = /^([\w$]+)(?:\s+as\s+([\w$]+))?$/.exec(item)
    if (!m) throw new Error(`cannot parse export item "${item}"`)
    map.set(m[1], m[2] ?? m[1])
  }
  return map
}

/**
 * The specifiers a chunk imports, `{ spec, dynamic }`: static imports and re-exports, side-effect imports
 * (`import "./x.js"`), and dynamic `import("./x.js")` (which may as well sit in a string: see below).
 */
function importSpecifiers(source) {
  const found = new Map()
  const statics = [/^\s*(?:import|export)\s[^;'"]*?\bfrom\s*(["'])([^"']+)\1/gm, /^\s*import\s*(["'])([^"']+)\1/gm]
  for (const re of statics) for (const m of source.matchAll(re)) found.set(m[2], false)
  for (const m of source.matchAll(/\bimport\(\s*(["'])([^"']+)\1\s*\)/g)) if (!found.has(m[2])) found.set(m[2], true)
  return [...found].map(([spec, dynamic]) => ({ spec, dynamic }))
}

/** `node:fs` → builtin; `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageName(specifier) {
  if (specifier.startsWith('node:')) return undefined
  const parts = specifier.split('/')
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
  return require('node:module').builtinModules.includes(name) ? undefined : name
}

/**
 * The relative-import closure of `roots` inside `distDir`: the files (relative to distDir) and the bare
 * packages they import, `{ name, dynamic }` (dynamic: only ever imported with `import()`). A dynamic
 * import of a file that does not exist is left out (the text was in a string, or the code copes); a
 * static one is an error.
 */
function importClosure(distDir, roots) {
  const files = new Set()
  const packages = new Map()
  const queue = roots.map((rel) => ({ rel, dynamic: false, from: '(root)' }))
  while (queue.length) {
    const { rel, dynamic, from } = queue.shift()
    if (files.has(rel)) continue
    const abs = path.join(distDir, rel)
    if (!abs.startsWith(distDir + path.sep)) throw new Error(`${from} imports ${rel}, outside dist/`)
    if (!fs.existsSync(abs)) {
      if (dynamic) continue
      throw new Error(`${from} imports ${rel}, which is not in dist/`)
    }
    files.add(rel)
    for (const { spec, dynamic: dyn } of importSpecifiers(fs.readFileSync(abs, 'utf8'))) {
      if (spec.startsWith('./') || spec.startsWith('../')) {
        queue.push({
          rel: path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec)),
          dynamic: dyn,
          from: rel,
        })
      } else {
        const name = packageName(spec)
        if (name) packages.set(name, (packages.get(name) ?? true) && dyn)
      }
    }
  }
  return {
    files: [...files].sort(),
    packages: [...packages].sort(([a], [b]) => a.localeCompare(b)).map(([name, dyn]) => ({ name, dynamic: dyn })),
  }
}

/** Every .js file directly in dist/ with the text it has. */
function readDist(distDir) {
  return fs
    .readdirSync(distDir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((file) => ({ file, text: fs.readFileSync(path.join(distDir, file), 'utf8') }))
}

/** The chunk made of just this one region (rolldown gives small modules a chunk of their own). */
function dedicatedChunk(chunks, region) {
  const hits = chunks.filter(({ text }) => {
    const regions = regionsOf(text)
    return regions.length === 1 && regions[0] === region
  })
  if (hits.length > 1)
    throw new Error(`more than one chunk holds only ${region}: ${hits.map((h) => h.file).join(', ')}`)
  return hits[0]
}

// ---------------------------------------------------------------------------------------------------
// Preparing one generation

/**
 * 2026.2 has no chunk of its own for the lock: it sits inside the big sessions chunk, whose other imports
 * need packages that cannot be installed here. Its module is rebuilt from the published text of the three
 * regions it consists of.
 */
function cutLegacyModule(chunks, version) {
  const withRegion = (region, prefix) =>
    chunks.filter(({ file, text }) => file.startsWith(prefix) && regionText(text, region) !== undefined)
  const sessions = withRegion(REGION.lock, 'sessions-')
  if (sessions.length === 0) throw new Error(`openclaw@${version}: no sessions-*.js chunk has //#region ${REGION.lock}`)
  const lockTexts = new Set(sessions.map(({ text }) => regionText(text, REGION.lock)))
  if (lockTexts.size !== 1) throw new Error(`openclaw@${version}: the sessions chunks disagree on ${REGION.lock}`)
  const sessionsChunk = sessions[0]
  const lockRegion = regionText(sessionsChunk.text, REGION.lock)

  const helpers = chunks.filter(
    ({ file, text }) =>
      file.startsWith('model-selection-') &&
      regionText(text, REGION.pidAlive) !== undefined &&
      regionText(text, REGION.scopedMap) !== undefined,
  )
  if (helpers.length === 0) {
    throw new Error(`openclaw@${version}: no model-selection-*.js chunk has ${REGION.pidAlive} and ${REGION.scopedMap}`)
  }
  const helperChunk = helpers[0]
  const pidAlive = regionText(helperChunk.text, REGION.pidAlive)
  const scopedMap = regionText(helperChunk.text, REGION.scopedMap)

  // The region uses the sessions chunk's import bindings: check they are the ones prepended here.
  const bindings = { fs: 'node:fs', path: 'node:path', fs$1: 'node:fs/promises' }
  for (const [name, spec] of Object.entries(bindings)) {
    const re = new RegExp(`^import ${name.replace('$', '\\$')} from "${spec}";$`, 'm')
    if (!re.test(sessionsChunk.text))
      throw new Error(`openclaw@${version}: ${sessionsChunk.file} does not import ${name} from ${spec}`)
  }
  if (!/^function isPidAlive\(/m.test(pidAlive) || !/^function resolveProcessScopedMap\(/m.test(scopedMap)) {
    throw new Error(
      `openclaw@${version}: ${helperChunk.file} regions do not define isPidAlive / resolveProcessScopedMap`,
    )
  }
  const exported = [
    'acquireSessionWriteLock',
    'cleanStaleLockFiles',
    'resolveSessionLockMaxHoldFromTimeout',
    '__testing',
  ]
  for (const name of exported) {
    if (!new RegExp(`^(?:async )?(?:function|const) ${name}\\b`, 'm').test(lockRegion)) {
      throw new Error(`openclaw@${version}: ${REGION.lock} does not define ${name}`)
    }
  }

  const text = [
    `// Cut at setup time by scripts/openclaw-generations.js from the published openclaw@${version} (npm):`,
    `//   //#region ${REGION.lock}   from dist/${sessionsChunk.file}`,
    `//   //#region ${REGION.pidAlive}         from dist/${helperChunk.file}`,
    `//   //#region ${REGION.scopedMap} from dist/${helperChunk.file}`,
    '// The regions are byte for byte as published; only these imports and the export line are added.',
    'import fs from "node:fs";',
    'import path from "node:path";',
    'import fs$1 from "node:fs/promises";',
    lockRegion + pidAlive + scopedMap + `export { ${exported.join(', ')} };`,
    '',
  ].join('\n')
  return {
    file: `session-write-lock-${version.split('.').slice(0, 2).join('.')}.js`,
    text,
    sources: [sessionsChunk.file, helperChunk.file],
  }
}

function entryModule({ name, version, modules }) {
  // modules: [{ file, exports: Map(local -> exported) }], in order of preference (lock, error, doctor).
  const present = []
  const byFile = new Map()
  for (const wanted of EXPORT_NAMES) {
    const from = modules.find((m) => m.exports.has(wanted))
    if (!from) continue
    present.push(wanted)
    if (!byFile.has(from.file)) byFile.set(from.file, [])
    byFile.get(from.file).push(`${from.exports.get(wanted)} as ${wanted}`)
  }
  if (!present.includes('acquireSessionWriteLock'))
    throw new Error(`openclaw@${version}: no acquireSessionWriteLock found`)
  const lines = [
    `// The session write lock of openclaw@${version} (npm), as published; written by scripts/openclaw-generations.js.`,
    ...[...byFile].map(([file, items]) => `export { ${items.join(', ')} } from ${JSON.stringify(`./dist/${file}`)};`),
    `export const GENERATION = ${JSON.stringify({ name, version, exports: present })};`,
    '',
  ]
  return { text: lines.join('\n'), exports: present }
}

async function packInto(version, dir) {
  const { stdout } = await run(
    'npm',
    ['pack', `openclaw@${version}`, '--pack-destination', dir, '--silent', '--json'],
    {
      cwd: dir,
    },
  )
  let tarball
  try {
    tarball = JSON.parse(stdout)[0].filename
  } catch {
    tarball = stdout.trim().split('\n').pop()
  }
  tarball = path.join(dir, path.basename(tarball))
  // Only package.json and dist/ are needed: much less to write than the whole tarball.
  await run('tar', ['xzf', tarball, '-C', dir, 'package/package.json', 'package/dist'])
  fs.rmSync(tarball, { force: true })
  return path.join(dir, 'package')
}

async function prepare(gen, out, work) {
  const pkgDir = await packInto(gen.version, work)
  const pkgJsonText = fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')
  const pkg = JSON.parse(pkgJsonText)
  if (pkg.version !== gen.version) throw new Error(`npm pack gave openclaw@${pkg.version}, not ${gen.version}`)
  const engines = pkg.engines?.node ?? '*'
  // If the running Node is too old for this release, fetch the fallback Node while the rest is prepared.
  if (engines !== '*' && !satisfies(process.version, engines)) fallbackNode().catch(() => {})

  const distDir = path.join(pkgDir, 'dist')
  const chunks = readDist(distDir)
  const outDist = path.join(out, 'dist')
  fs.mkdirSync(outDist, { recursive: true })

  const modules = []
  let closure = { files: [], packages: [] }
  const sources = {}
  const lock = dedicatedChunk(chunks, REGION.lock)
  if (lock) {
    const roots = [lock]
    const error = dedicatedChunk(chunks, REGION.error)
    const doctor = dedicatedChunk(chunks, REGION.doctor)
    if (error) roots.push(error)
    if (doctor) roots.push(doctor)
    for (const chunk of roots) modules.push({ file: chunk.file, exports: parseExports(chunk.text) })
    Object.assign(sources, { lock: lock.file, error: error?.file, doctor: doctor?.file })
    closure = importClosure(
      distDir,
      roots.map((c) => c.file),
    )
    for (const rel of closure.files) {
      fs.mkdirSync(path.dirname(path.join(outDist, rel)), { recursive: true })
      fs.copyFileSync(path.join(distDir, rel), path.join(outDist, rel))
    }
  } else {
    const cut = cutLegacyModule(chunks, gen.version)
    fs.writeFileSync(path.join(outDist, cut.file), cut.text)
    modules.push({ file: cut.file, exports: parseExports(cut.text) })
    closure = { files: [cut.file], packages: importClosure(outDist, [cut.file]).packages }
    Object.assign(sources, { lock: cut.file, cutFrom: cut.sources })
  }
  const entry = entryModule({ name: gen.name, version: gen.version, modules })
  fs.writeFileSync(path.join(out, 'openclaw-package.json'), pkgJsonText)

  // Exactly the packages the closure imports, at the versions the release pins. One it only imports
  // dynamically and does not depend on is optional to it: left out, like in an installed openclaw.
  const deps = {}
  for (const { name, dynamic } of closure.packages) {
    const pinned = pkg.dependencies?.[name] ?? pkg.optionalDependencies?.[name]
    if (pinned) deps[name] = pinned
    else if (!dynamic)
      throw new Error(`openclaw@${gen.version}: the lock's modules import ${name}, which its package.json does not pin`)
  }
  fs.writeFileSync(
    path.join(out, 'package.json'),
    `${JSON.stringify({ name: `openclaw-generation-${gen.version}`, private: true, type: 'module' }, null, 2)}\n`,
  )
  if (Object.keys(deps).length) {
    await run(
      'npm',
      [
        'install',
        '--no-save',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        '--loglevel=error',
        ...Object.entries(deps).map(([n, v]) => `${n}@${v}`),
      ],
      { cwd: out },
    )
  }
  fs.writeFileSync(path.join(out, 'entry.mjs'), entry.text)
  return {
    format: FORMAT,
    name: gen.name,
    version: gen.version,
    engines,
    exports: entry.exports,
    sources,
    files: closure.files,
    packages: deps,
  }
}

function generationOf(version) {
  return GENERATIONS.find((g) => g.version === version) ?? { name: version.split('.').slice(0, 2).join('.'), version }
}

function validMarker(dir, version) {
  const marker = readJson(path.join(dir, MARKER))
  return marker && marker.format === FORMAT && marker.version === version && fs.existsSync(path.join(dir, 'entry.mjs'))
    ? marker
    : undefined
}

/** Staging directories of setups that were killed half-way (an hour old: nobody is still using them). */
function removeAbandonedStaging(version) {
  for (const name of fs.readdirSync(ROOT)) {
    if (!name.startsWith(`.staging-${version}-`)) continue
    try {
      if (Date.now() - fs.statSync(path.join(ROOT, name)).mtimeMs > 3_600_000) rmrf(path.join(ROOT, name))
    } catch {}
  }
}

/** Prepares the cache directory of one version (once; concurrent callers end up with the same one). */
async function ensurePrepared(gen) {
  const dir = path.join(ROOT, gen.version)
  const ready = validMarker(dir, gen.version)
  if (ready) return { dir, marker: ready }

  fs.mkdirSync(ROOT, { recursive: true })
  removeAbandonedStaging(gen.version)
  const staging = fs.mkdtempSync(path.join(ROOT, `.staging-${gen.version}-`))
  try {
    const out = path.join(staging, 'out')
    const work = path.join(staging, 'work')
    fs.mkdirSync(out)
    fs.mkdirSync(work)
    const marker = await prepare(gen, out, work)
    fs.writeFileSync(path.join(out, MARKER), `${JSON.stringify(marker, null, 2)}\n`) // last: it says "complete"
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(out, dir)
        return { dir, marker }
      } catch (err) {
        if (!['EEXIST', 'ENOTEMPTY', 'EPERM', 'EBUSY'].includes(err.code) || attempt >= 5) throw err
        // Someone else got there first: use theirs if it is complete, else move the leftover aside.
        const theirs = validMarker(dir, gen.version)
        if (theirs) return { dir, marker: theirs }
        const aside = path.join(staging, `leftover-${attempt}`)
        try {
          fs.renameSync(dir, aside)
        } catch {}
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)))
      }
    }
  } finally {
    rmrf(staging)
  }
}

// ---------------------------------------------------------------------------------------------------
// Finding a Node that loads it

let fallbackNodePromise
/** The path of a Node from the registry (`npx -p node@24`), resolved once and remembered on disk. */
function fallbackNode() {
  fallbackNodePromise ??= (async () => {
    const known = readJson(FALLBACK_NODE_FILE)
    if (known?.spec === FALLBACK_NODE && known.path && fs.existsSync(known.path)) return known.path
    let lastErr
    // Two processes running npx for the same package at once can trip over each other: try again.
    fs.mkdirSync(ROOT, { recursive: true })
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const { stdout } = await run('npx', ['-y', '-p', FALLBACK_NODE, 'node', '-p', 'process.execPath'], {
          cwd: ROOT,
        })
        const resolved = stdout.trim().split('\n').pop().trim()
        if (!resolved || !fs.existsSync(resolved)) throw new Error(`npx printed no usable path: ${stdout}`)
        writeFileAtomic(FALLBACK_NODE_FILE, `${JSON.stringify({ spec: FALLBACK_NODE, path: resolved }, null, 2)}\n`)
        return resolved
      } catch (err) {
        lastErr = err
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)))
      }
    }
    throw lastErr
  })()
  fallbackNodePromise.catch(() => (fallbackNodePromise = undefined))
  return fallbackNodePromise
}

function nodeKey(node) {
  const st = fs.statSync(node)
  return `${node}|${st.size}|${Math.floor(st.mtimeMs)}`
}

/** Does `node` import entry.mjs? `{ ok, version, reason }`; a yes is remembered per binary in the cache dir. */
async function checkNode(dir, entry, node) {
  const checksFile = path.join(dir, NODE_CHECKS)
  const key = nodeKey(node)
  const checks = readJson(checksFile) ?? {}
  if (checks[key]) return checks[key]
  const script = `await import(${JSON.stringify(pathToFileURL(entry).href)}); console.log(process.version)`
  let result
  try {
    const { stdout } = await run(node, ['--input-type=module', '-e', script], {
      cwd: dir,
      timeout: 60_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    })
    result = { ok: true, version: stdout.trim().split('\n').pop() }
  } catch (err) {
    // Not remembered: a failure may be temporary (a machine under load).
    const version = await run(node, ['-p', 'process.version']).then(
      (r) => r.stdout.trim(),
      () => 'unknown',
    )
    const lines = String(err.stderr ?? err.message)
      .trim()
      .split('\n')
    const reason = lines.find((l) => /Error|error:/.test(l)) ?? lines[0] ?? err.message
    return { ok: false, version, reason: reason.trim() }
  }
  const latest = readJson(checksFile) ?? {}
  latest[key] = result
  try {
    writeFileAtomic(checksFile, `${JSON.stringify(latest, null, 2)}\n`)
  } catch {}
  return result
}

/**
 * This process's Node if it is one the release supports (`engines.node`: OpenClaw's own runtime guard
 * refuses to start on anything older, so nothing else is what OpenClaw runs on) and it really imports
 * entry.mjs; else a Node 24 from the registry, on the same two conditions.
 */
async function chooseNode(dir, entry, engines) {
  const tried = []
  const consider = async (node, label) => {
    const check = await checkNode(dir, entry, node)
    if (!check.ok) tried.push(`${label} ${node} (${check.version}) cannot import it: ${check.reason}`)
    else if (!satisfies(check.version, engines))
      tried.push(`${label} ${node} (${check.version}) is not in engines.node`)
    else return { node, nodeVersion: check.version }
    return undefined
  }
  if (satisfies(process.version, engines)) {
    const own = await consider(process.execPath, 'this Node')
    if (own) return own
  } else tried.push(`this Node ${process.execPath} (${process.version}) is not in engines.node`)
  let fallback
  try {
    fallback = await fallbackNode()
  } catch (err) {
    tried.push(`npx -p ${FALLBACK_NODE}: ${err.message}`)
  }
  const other = fallback && (await consider(fallback, `npx ${FALLBACK_NODE}`))
  if (other) return other
  throw new Error(
    `no Node can run ${entry} (engines.node "${engines}", at least ${minimumVersion(engines)}):\n  ${tried.join('\n  ')}`,
  )
}

// ---------------------------------------------------------------------------------------------------

const inFlight = new Map()

/**
 * The prepared generation: `{ version, name, dir, entry, node, nodeVersion, engines, minimumNode, exports }`.
 * `node` is a Node binary that loads `entry` (this process's own when it can).
 */
function ensureGeneration(version) {
  if (!inFlight.has(version)) {
    const p = (async () => {
      const gen = generationOf(version)
      const { dir, marker } = await ensurePrepared(gen)
      const entry = path.join(dir, 'entry.mjs')
      const { node, nodeVersion } = await chooseNode(dir, entry, marker.engines)
      return {
        version: gen.version,
        name: marker.name,
        dir,
        entry,
        node,
        nodeVersion,
        engines: marker.engines,
        minimumNode: minimumVersion(marker.engines),
        exports: marker.exports,
      }
    })()
    inFlight.set(version, p)
    p.catch(() => inFlight.delete(version))
  }
  return inFlight.get(version)
}

function ensureAll() {
  return Promise.all(GENERATIONS.map((g) => ensureGeneration(g.version)))
}

module.exports = { GENERATIONS, EXPORT_NAMES, ensureGeneration, ensureAll, satisfies, minimumVersion }

if (require.main === module) {
  const started = Date.now()
  ensureAll().then(
    (gens) => {
      for (const g of gens) {
        console.log(
          `openclaw@${g.version}: node ${g.nodeVersion} (engines ${g.engines}); exports ${g.exports.join(', ')}`,
        )
      }
      console.log(
        `ready in ${((Date.now() - started) / 1000).toFixed(1)}s under ${path.relative(process.cwd(), ROOT) || '.'}`,
      )
    },
    (err) => {
      console.error(`openclaw generations: ${err.stack ?? err}`)
      process.exitCode = 1
    },
  )
}
