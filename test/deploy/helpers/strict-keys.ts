/**
 * Unknown-key check for Kubernetes objects. kubernetes-models' runtime validators accept any extra
 * key (a misspelt `readOnlyRootFilesystem` would pass), so each object is also type-checked as an
 * object literal against the package's own TypeScript interface, where excess keys are errors.
 */
import ts from 'typescript'
import { join } from 'node:path'

/** Where a kind's interface lives: module specifier and interface name. */
export interface ModelType { readonly module: string; readonly iface: string }

/** Type-checks every object against its interface; returns one message per excess or mistyped key. */
export function strictKeyErrors(root: string, objects: ReadonlyArray<{ readonly type: ModelType; readonly value: unknown }>): string[] {
  const file = join(root, 'test/deploy/__strict_keys_virtual__.ts')
  const lines = objects.map((o, i) => `import type { ${o.type.iface} as T${i} } from '${o.type.module}'\nexport const o${i}: T${i} = ${JSON.stringify(o.value)}\n`)
  const source = lines.join('')
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, types: [],
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, lang, ...rest) =>
    name === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = name => name === file || fileExists(name)
  const program = ts.createProgram([file], options, host)
  return ts.getPreEmitDiagnostics(program).map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}
