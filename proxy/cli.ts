#!/usr/bin/env node
/** `guarded-proxy`: the command-line entry point. Subcommands load lazily, so a small command starts fast. */

const USAGE = `usage: guarded-proxy <command> [options]

commands:
  serve     run the proxy (guarded-proxy serve --help for options)
  policy    lint, explain, test, diff and trust policies (guarded-proxy policy --help)
  audit     print a timeline from an audit log
  prompt    name the current prompt of this session (from inside a sandbox)
  ca        create the TLS inspection CA (ca init) or show its fingerprint (ca show)
`

type Command = (args: readonly string[]) => Promise<number>

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve-command.js')).serveCommand,
  policy: async () => (await import('./policy-command.js')).policyCommand,
  audit: async () => (await import('./audit-command.js')).auditCommand,
  prompt: async () => (await import('./prompt-command.js')).promptCommand,
  ca: async () => (await import('./ca-command.js')).caCommand,
  approvals: async () => (await import('./approvals/approvals-command.js')).approvalsCommand,
}

/** Dispatches to a subcommand and exits with its status. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  const load = command === undefined ? undefined : COMMANDS[command]
  if (load) return (await load())(rest)
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  process.stderr.write(`guarded-proxy: unknown command ${JSON.stringify(command)}\n${USAGE}`)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code
  },
  (err: Error) => {
    process.stderr.write(`guarded-proxy: ${err.message}\n`)
    process.exitCode = 1
  },
)
