/**
 * Compiles a policy in a worker thread, so a 100,000-rule file (most of a second of YAML parsing)
 * never stalls connections. The worker parses and validates; the plain result comes back as JSON
 * chunks, parsed here one chunk per macrotask, then revived (frozen, index rebuilt), because the
 * index's Maps live in a WeakMap keyed by the policy object and cannot cross threads. The main
 * thread's share is about a quarter of a full load, mostly the final freeze and index build
 * (measured in test/proxy/policy-worker.test.ts).
 */
import { Worker } from 'node:worker_threads'
import { revivePolicy } from '../../policy/load.js'
import { PolicyError } from '../../policy/policy-error.js'
import type { PolicySource } from '../../policy/read-source.js'
import type { Policy, Rule } from '../../policy/types.js'
import type { CompileAnswer } from './compile-worker.js'

// Run from source (tests) the worker is TypeScript; built, it is JavaScript beside this file.
const WORKER = new URL(`./compile-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/** Timings of one compile, so the split between the worker and the main thread can be reported. */
export interface CompileTimes {
  readonly workerMs: number
  readonly reviveMs: number
}

/** Parses the chunks between other work (one per macrotask), then freezes and indexes once. */
async function revive(answer: Extract<CompileAnswer, { ok: true }>): Promise<Policy> {
  const rules: Rule[] = []
  for (const chunk of answer.rules) {
    await new Promise((next) => setImmediate(next))
    rules.push(...(JSON.parse(chunk) as Rule[]))
  }
  await new Promise((next) => setImmediate(next))
  return revivePolicy({ ...(JSON.parse(answer.head) as Omit<Policy, 'rules'>), rules })
}

/** Loads `sources` in a fresh worker; resolves with the revived policy or rejects with PolicyError/Error. */
export function compileInWorker(sources: readonly PolicySource[], times?: (t: CompileTimes) => void): Promise<Policy> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: sources })
    let settled = false
    worker.once('message', (answer: CompileAnswer) => {
      settled = true
      void worker.terminate()
      if (!answer.ok) return reject(answer.problems ? new PolicyError(answer.problems) : new Error(answer.message))
      const started = performance.now()
      revive(answer).then((policy) => {
        times?.({ workerMs: answer.ms, reviveMs: performance.now() - started })
        resolve(policy)
      }, reject)
    })
    worker.once('error', (err) => (settled ? undefined : ((settled = true), reject(err))))
    worker.once('exit', (code) => (settled ? undefined : ((settled = true), reject(new Error(`the policy compile worker exited (${code}) without an answer`)))))
  })
}
