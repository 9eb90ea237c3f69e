#!/usr/bin/env node
/** `guarded-proxy`: the command-line entry point. Each subcommand lives in its own module. */
import { serveCommand } from './serve-command.js'

const USAGE = `usage: guarded-proxy <command> [options]

commands:
  serve    run the proxy (guarded-proxy serve --help for options)
`

/** Dispatches to a subcommand and exits with its status. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === 'serve') return serveCommand(rest)
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
