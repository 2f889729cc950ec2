// Types of scripts/openclaw-generations.js, for the specs.

export interface GenerationSpec {
  /** Short label, e.g. `2026.5`: the `impl` of witness lines and `GENERATION.name` in entry.mjs. */
  name: string
  /** The exact openclaw version on npm, e.g. `2026.5.22`. */
  version: string
}

export interface Generation extends GenerationSpec {
  /** The prepared cache directory, target/openclaw-generations/<version>. */
  dir: string
  /** entry.mjs in `dir`: the uniform ESM facade over this release's lock modules. */
  entry: string
  /** A Node binary that is in the release's engines.node and imports `entry`. */
  node: string
  /** `process.version` of `node`. */
  nodeVersion: string
  /** openclaw's package.json `engines.node`. */
  engines: string
  /** The lowest Node version `engines` admits. */
  minimumNode: string
  /** The names entry.mjs exports, besides `GENERATION`. */
  exports: string[]
}

export declare const GENERATIONS: GenerationSpec[]
/** Every name an entry.mjs may export (each only if the release has it). */
export declare const EXPORT_NAMES: string[]
export declare function ensureGeneration(version: string): Promise<Generation>
export declare function ensureAll(): Promise<Generation[]>
export declare function satisfies(version: string, range: string): boolean
export declare function minimumVersion(range: string): string
