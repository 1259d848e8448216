/**
 * Where the CLI's secrets come from (a flag, its file, the environment) and which command lines
 * carry a secret in the clear.
 */
import { describe, expect, it } from "vitest"
import { resolveSecret, secretsInArgv, type SecretSpec } from "../../src/cli/secrets.js"

const spec = (over: Partial<SecretSpec> = {}): SecretSpec => ({ what: "NATS token", flag: "token", argv: undefined, file: undefined, env: "SNAKEPIT_NATS_TOKEN", ...over })
const files: Record<string, string> = { "/s/token": "file-secret\n", "/s/crlf": "crlf-secret\r\n", "/s/spaces": " a b \n", "/s/empty": "\n" }
const io = (env: Record<string, string> = {}) => ({
  env,
  readFile: (p: string) => {
    if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" })
    return files[p]!
  },
})

describe("resolveSecret", () => {
  it("reads a file once, trimming only the trailing newline", () => {
    expect(resolveSecret(spec({ file: "/s/token" }), io())).toEqual({ ok: true, value: "file-secret", from: "file" })
    expect(resolveSecret(spec({ file: "/s/crlf" }), io())).toMatchObject({ value: "crlf-secret" })
    expect(resolveSecret(spec({ file: "/s/spaces" }), io())).toMatchObject({ value: " a b " })
  })

  it("takes the environment when neither flag nor file is given, and a flag or file over it", () => {
    const env = { SNAKEPIT_NATS_TOKEN: "env-secret" }
    expect(resolveSecret(spec(), io(env))).toEqual({ ok: true, value: "env-secret", from: "env" })
    expect(resolveSecret(spec({ file: "/s/token" }), io(env))).toMatchObject({ value: "file-secret", from: "file" })
    expect(resolveSecret(spec({ argv: "argv-secret" }), io(env))).toMatchObject({ value: "argv-secret", from: "argv" })
    expect(resolveSecret(spec(), io({ SNAKEPIT_NATS_TOKEN: "" }))).toEqual({ ok: true, value: undefined, from: "none" })
  })

  it("accepts a secret in argv with a warning that names the flag and the safe ways, never the value", () => {
    const r = resolveSecret(spec({ argv: "argv-secret" }), io())
    expect(r).toMatchObject({ ok: true, value: "argv-secret" })
    const warning = (r as { warning: string }).warning
    expect(warning).toMatch(/--token .*ps.*--token-file FILE or \$SNAKEPIT_NATS_TOKEN/)
    expect(warning).not.toContain("argv-secret")
  })

  it("an unreadable or empty file, or a flag with its file, is a usage error naming the file", () => {
    expect(resolveSecret(spec({ file: "/nope" }), io())).toEqual({ ok: false, message: 'cannot read the NATS token from --token-file "/nope": ENOENT' })
    expect(resolveSecret(spec({ file: "/s/empty" }), io())).toMatchObject({ ok: false, message: expect.stringContaining('"/s/empty" is empty') })
    expect(resolveSecret(spec({ file: "/s/token", argv: "x" }), io())).toMatchObject({ ok: false, message: "give --token or --token-file, not both" })
  })
})

describe("secretsInArgv", () => {
  it("finds --token, --password and --nkey-seed with a value on snakepit agent and dashboard command lines, never the value", () => {
    expect(secretsInArgv(["node", "/usr/lib/node_modules/snakepit/dist/cli.js", "agent", "--nats", "n", "--token", "v"])).toEqual([{ command: "agent", flag: "--token" }])
    expect(secretsInArgv(["/usr/bin/snakepit", "agent", "--password=v", "--nkey-seed", "S"])).toEqual([
      { command: "agent", flag: "--password" },
      { command: "agent", flag: "--nkey-seed" },
    ])
    expect(secretsInArgv(["node", "--import", "tsx", "/w/snakepit/src/cli.ts", "dashboard", "--token", "v"])).toEqual([{ command: "dashboard", flag: "--token" }])
    expect(secretsInArgv(["npm", "exec", "snakepit", "--", "agent", "--token", "v"])).toEqual([{ command: "agent", flag: "--token" }])
  })

  it("ignores the file flags, other commands, a flag without a value and other programs", () => {
    expect(secretsInArgv(["snakepit", "agent", "--token-file", "/s/token", "--password-file", "/p"])).toEqual([])
    expect(secretsInArgv(["snakepit", "call", "m.f", "--token", "v"])).toEqual([])
    expect(secretsInArgv(["snakepit", "agent", "--token"])).toEqual([])
    expect(secretsInArgv(["node", "/other/tool/cli.js", "agent", "--token", "v"])).toEqual([])
    expect(secretsInArgv(["curl", "--token", "v"])).toEqual([])
  })
})
