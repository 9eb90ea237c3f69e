/**
 * The decisions file (`--decisions FILE`): approvals made with scope `always`, kept as a YAML policy
 * overlay with who decided and when as comments, so a security engineer can read, review and commit it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { isMap, isSeq, parseDocument, type Document } from 'yaml'
import type { ApprovalQuery } from './create-registry.js'
import type { ApprovalDecision } from './types.js'

const HEADER = `Decisions made with scope "always" by guarded-proxy approvers.
This file is a policy overlay: it sits just above the policy files it was made against and below
managed requirements. Each entry says who decided and when.`

/** The pattern an `always` decision writes: exactly this host on exactly this port. */
export function decisionPattern(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** Appends one decision and replaces the file atomically (write to a temp file, then rename). */
export async function appendDecision(file: string, query: ApprovalQuery, decision: ApprovalDecision, now: Date): Promise<void> {
  const doc = await readDocument(file)
  const list = decision.decision === 'allow' ? 'allow' : 'block'
  const node = doc.createNode(decisionPattern(query.host, query.port))
  node.comment = ` ${decision.decision} by ${decision.by} at ${now.toISOString()} (session ${query.sessionId}${query.promptId ? `, prompt ${query.promptId}` : ''})`
  let entries = doc.get(list)
  if (!isSeq(entries)) {
    entries = doc.createNode([])
    doc.set(list, entries)
  }
  if (isSeq(entries)) entries.items.push(node)
  const temp = `${file}.tmp-${process.pid}`
  await writeFile(temp, doc.toString(), { mode: 0o600 })
  await rename(temp, file)
}

async function readDocument(file: string): Promise<Document> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (text !== undefined) {
    const doc = parseDocument(text)
    if (doc.errors.length === 0 && isMap(doc.contents)) return doc
    throw new Error(`the decisions file ${file} is not a policy overlay; fix or move it (${doc.errors[0]?.message ?? 'not a mapping'})`)
  }
  const doc = parseDocument('version: 1\n')
  doc.commentBefore = HEADER.split('\n').map((l) => ` ${l}`).join('\n')
  return doc
}
