/**
 * Reloads the policy: re-discovers and re-reads every layer, compiles in a worker thread, and swaps
 * the result into the shared reference in one assignment. Connections read the reference once, so
 * those in flight keep the decision they had. A policy that fails to load leaves the last good one
 * in force; the caller hears about every result (logs, the reload metric).
 */
import { loadPolicy } from '../../policy/load.js'
import type { Policy } from '../../policy/types.js'
import type { PolicyRef } from '../context.js'
import { compileInWorker } from './compile-in-worker.js'
import type { LayerInputs } from './discover-layers.js'
import type { PolicyRoots } from './policy-roots.js'
import { readLayers, type LayerSources } from './read-layers.js'
import { sha256 } from './trust-store.js'

/** The outcome of one reload; `changed` is false when the files were byte-for-byte the same. */
export type ReloadResult = { readonly ok: true; readonly rules: number; readonly changed: boolean } | { readonly ok: false; readonly error: Error }

/** Reloads on demand; `reload` always recompiles, `reloadIfChanged` only when the files differ from the last ones tried. */
export interface PolicyReloader {
  reload(): Promise<ReloadResult>
  reloadIfChanged(): Promise<ReloadResult>
  /** The files the policy in force was read from (what a watcher should watch). */
  files(): readonly string[]
}

/** What the reloader needs; `onResult` is where logs and metrics subscribe. */
export interface ReloaderOptions {
  readonly inputs: LayerInputs
  readonly roots: PolicyRoots
  readonly ref: PolicyRef
  /** Runs before the swap (e.g. the inspection CA a new rule needs); a throw fails the reload. */
  readonly prepare?: (policy: Policy) => Promise<void>
  readonly onResult?: (result: ReloadResult, notices: readonly string[]) => void
}

/** The first load, in the main thread (nothing is being served yet), and a reloader for later. */
export async function loadInitialPolicy(options: Omit<ReloaderOptions, 'ref'>): Promise<{ policy: Policy; layers: LayerSources }> {
  const layers = await readLayers(options.inputs, options.roots)
  return { policy: loadPolicy(layers.sources), layers }
}

/** Creates a reloader whose last-seen contents are those of `initial`. */
export function createPolicyReloader(options: ReloaderOptions, initial: LayerSources): PolicyReloader {
  let loaded = initial
  // The last contents tried, good or bad: a broken file is reported (and counted) once per change,
  // not again on every unrelated event in its directory. SIGHUP always retries.
  let attempted = signature(initial)
  let queued: Promise<ReloadResult> | undefined
  let tail: Promise<unknown> = Promise.resolve()
  // One reload at a time; calls while one is waiting share it (a burst of events is one reload).
  const enqueue = (onlyIfChanged: boolean): Promise<ReloadResult> => {
    if (queued) return queued
    const next = tail.then(() => ((queued = undefined), run(onlyIfChanged)))
    queued = next
    tail = next.catch(() => undefined)
    return next
  }
  const run = async (onlyIfChanged: boolean): Promise<ReloadResult> => {
    let layers: LayerSources | undefined
    let result: ReloadResult
    try {
      layers = await readLayers(options.inputs, options.roots)
      const seen = signature(layers)
      if (onlyIfChanged && seen === attempted) return { ok: true, rules: options.ref.current.rules.length, changed: false }
      attempted = seen
      const policy = await compileInWorker(layers.sources)
      await options.prepare?.(policy)
      options.ref.current = policy // the swap: one assignment, read once per connection
      loaded = layers
      result = { ok: true, rules: policy.rules.length, changed: true }
    } catch (err) {
      result = { ok: false, error: err as Error }
    }
    options.onResult?.(result, layers?.notices ?? [])
    return result
  }
  return {
    reload: () => enqueue(false),
    reloadIfChanged: () => enqueue(true),
    files: () => loaded.sources.map((s) => s.file).filter((f) => !f.startsWith('(')),
  }
}

/** What was loaded, as one hash: which files, in which layers, with which bytes. */
function signature(layers: LayerSources): string {
  return sha256(JSON.stringify(layers.sources.map((s) => [s.file, s.layer, sha256(s.text)])))
}
