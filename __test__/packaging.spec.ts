// The package as users get it: `npm pack` of the root package and of this platform's binary package,
// installed into fresh TypeScript projects (NodeNext ESM, and CommonJS) with no Rust toolchain on PATH.
// Each type-checks an example that uses the whole public API (strict), runs it, and runs the bin.

import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'

const ROOT = path.join(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const binding = fs.readdirSync(ROOT).find((f) => /^session-write-lock\..+\.node$/.test(f))
const platform = binding?.split('.')[1]
// npm beside this Node if it has one (a system install), else the npm on PATH (Node from `npx -p node@N`).
const NPM = [
  path.join(path.dirname(process.execPath), 'npm'),
  spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim(),
].find((p) => p && fs.existsSync(p))!
// Node, npm and the basic tools; no ~/.cargo/bin.
const PATH = [path.dirname(process.execPath), path.dirname(NPM), '/usr/local/bin', '/usr/bin', '/bin']
  .filter((d) => !fs.existsSync(path.join(d, 'cargo')))
  .join(':')
const env = {
  ...process.env,
  PATH,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
}

/** A child of these tests (npm installs among them) that hangs is killed, and fails its test. */
const LIMIT = { timeout: 600_000, killSignal: 'SIGKILL' } as const

function npm(args: string[], cwd: string) {
  return execFileSync(NPM, args, { cwd, env, encoding: 'utf8', ...LIMIT, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** `npm run pack:local`, as a user runs it: the package's tarball and this platform's binary package's. */
function tarballs(work: string) {
  const out = path.join(work, 'tarballs')
  const packed = execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'pack-local.js'), '--out', out, '--json'], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    ...LIMIT,
  })
  const { package: root, binary: native } = JSON.parse(packed)
  const listing = (tgz: string) =>
    execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''))
  return { root, native, rootFiles: listing(root), nativeFiles: listing(native) }
}

function project(work: string, name: string, pkg: object, tsconfig: object, packs: ReturnType<typeof tarballs>) {
  const dir = path.join(work, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...pkg }))
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig))
  fs.copyFileSync(path.join(__dirname, 'packaging', 'example.ts'), path.join(dir, 'example.ts'))
  npm(['install', '--no-package-lock', packs.native, packs.root], dir)
  return dir
}

const compilerOptions = (extra: object) => ({
  strict: true,
  target: 'ES2022',
  outDir: 'out',
  skipLibCheck: false,
  types: ['node'],
  typeRoots: [path.join(ROOT, 'node_modules', '@types')],
  ...extra,
})

test('npm pack: the tarball carries the package and nothing else', { skip: !binding && 'no built binary' }, (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-pack-'))
  t.after(() => fs.rmSync(work, { recursive: true, force: true }))
  const packs = tarballs(work)
  const files: string[] = packs.rootFiles.sort()
  assert.deepEqual(
    files.filter((f) => !f.startsWith('lib/')),
    ['README.md', 'binding.d.ts', 'binding.js', 'cli.js', 'index.d.ts', 'index.js', 'package.json'],
  )
  for (const f of files)
    assert.doesNotMatch(f, /__test__|\.spec\.|^src\/|target\/|Cargo|\.node$|benchmark|soak|fuzz/, f)
  assert.deepEqual(packs.nativeFiles.sort(), [binding, 'package.json', 'README.md'].sort())
  // Installing it runs no script of ours (there is none to run, and none to approve).
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
    assert.equal(pkg.scripts[hook], undefined, hook)
})

test(
  'the package without its binary package: the import names the package it expected',
  { skip: !binding && 'no built binary' },
  (t) => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swl-pkg-nobin-'))
    t.after(() => fs.rmSync(work, { recursive: true, force: true }))
    const packs = tarballs(work)
    const dir = path.join(work, 'app')
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    const install = spawnSync(NPM, ['install', '--no-package-lock', packs.root], {
      cwd: dir,
      env,
      encoding: 'utf8',
      ...LIMIT,
    })
    assert.equal(install.status, 0, install.stderr)
    assert.doesNotMatch(install.stderr, /warn/i, 'installing the package prints no warning')
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        "try { require('session-write-lock') } catch (e) { console.log(JSON.stringify({ code: e.code, expected: e.expectedPackage, message: e.message })) }",
      ],
      { cwd: dir, env, encoding: 'utf8', ...LIMIT },
    )
    const err = JSON.parse(r.stdout)
    assert.equal(err.code, 'SESSION_WRITE_LOCK_NO_BINARY')
    assert.equal(err.expected, `session-write-lock-${platform}`)
    assert.match(err.message, /npm run pack:local/)
    assert.doesNotMatch(err.message, /npm has a bug/)
  },
)

/** The TypeScript blocks of the README, each as its own module, with the free names they use declared. */
function readmeSnippets(dir: string) {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1])
  assert.ok(blocks.length >= 5, `found ${blocks.length} TypeScript blocks in the README`)
  blocks.forEach((code, i) => fs.writeFileSync(path.join(dir, `readme-${i + 1}.ts`), `${code}\nexport {}\n`))
  // What the snippets leave to the reader's gateway code.
  fs.writeFileSync(
    path.join(dir, 'readme-globals.d.ts'),
    [
      'declare const sessionFile: string',
      'declare const text: string',
      'declare const message: string',
      'declare const session: { id: string }',
      'declare const toolCall: { role: string; content: string }',
      'declare const toolResult: { role: string; content: string }',
      'declare function callModel(session: { id: string }): Promise<string>',
      'declare function isPaired(entry: { role: string; toolCallId?: string }): boolean',
      'declare function repairSessionFileIfNeeded(sessionFile: string): Promise<void>',
      'declare function appendUserMessage(sessionFile: string, message: string): void',
      'declare function appendAssistantMessage(sessionFile: string, reply: string): void',
      '// The gateway\'s own lock, in the "Before" snippet.',
      'declare function acquireSessionWriteLock(params: { sessionFile: string }): Promise<{ release(): Promise<void> }>',
      '',
    ].join('\n'),
  )
  return blocks.length
}

for (const flavour of ['esm', 'cjs'] as const) {
  test(
    `a fresh ${flavour === 'esm' ? 'NodeNext ESM' : 'CommonJS'} TypeScript project installs, type-checks and runs it`,
    { skip: !binding && 'no built binary' },
    (t) => {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), `swl-pkg-${flavour}-`))
      t.after(() => fs.rmSync(work, { recursive: true, force: true }))
      assert.notEqual(spawnSync('cargo', ['--version'], { env }).status, 0, 'cargo must not be on PATH for this test')
      const packs = tarballs(work)
      const dir =
        flavour === 'esm'
          ? project(
              work,
              'esm-app',
              { type: 'module' },
              { compilerOptions: compilerOptions({ module: 'NodeNext', moduleResolution: 'NodeNext' }) },
              packs,
            )
          : project(
              work,
              'cjs-app',
              {},
              {
                compilerOptions: compilerOptions({
                  module: 'CommonJS',
                  moduleResolution: 'Node10',
                  esModuleInterop: true,
                }),
              },
              packs,
            )
      // The README's TypeScript, as written, type-checks in the same strict project.
      if (flavour === 'esm') readmeSnippets(dir)
      const tsc = spawnSync(process.execPath, [TSC, '-p', dir], { cwd: dir, env, encoding: 'utf8', ...LIMIT })
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr)
      const run = spawnSync(process.execPath, [path.join(dir, 'out', 'example.js')], {
        cwd: dir,
        env,
        encoding: 'utf8',
        ...LIMIT,
      })
      assert.equal(run.status, 0, run.stderr)
      const report = JSON.parse(run.stdout)
      assert.deepEqual(
        { ...report, acquisitions: report.acquisitions > 0 },
        {
          offsets: [0, 31],
          count: 3,
          same: true,
          timeoutCode: 'OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT',
          noticeSource: 'configure',
          configError: true,
          maxHold: 720000,
          locks: 0,
          acquisitions: true,
        },
      )
      const bin = path.join(dir, 'node_modules', '.bin', 'session-write-lock')
      const doctor = spawnSync(bin, ['doctor', '--json', work], { cwd: dir, env, encoding: 'utf8', ...LIMIT })
      assert.equal(doctor.status, 0, doctor.stderr)
      assert.equal(JSON.parse(doctor.stdout).problems, 0)
    },
  )
}
