/**
 * Where the CLI's secrets come from (a flag, its file, the environment) and which command lines
 * carry a secret in the clear. Before, `snakepit doctor` missed a snakepit whose path does not say
 * snakepit (`/opt/tools/pit/dist/cli.js`, `node --import tsx src/cli.ts` in a checkout) and a
 * `--nats` URL with credentials (`nats://alice:hunter2@nats:4222`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { isSnakepitScript } from "../../src/cli/doctor.js"
import { natsUrlHasCredentials, resolveSecret, secretsInArgv, type SecretSpec } from "../../src/cli/secrets.js"

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

describe("secretsInArgv: --nats URLs with credentials", () => {
  it("a --nats URL with a user, password or token is a secret on the command line, as --nats X and --nats=X", () => {
    expect(secretsInArgv(["node", "/srv/app/node_modules/.bin/snakepit", "agent", "--nats", "nats://alice:hunter2@nats:4222", "--pool", "p"])).toEqual([
      { command: "agent", flag: "--nats" },
    ])
    expect(secretsInArgv(["snakepit", "agent", "--nats=nats://s3cret@nats:4222", "--pool", "p"])).toEqual([{ command: "agent", flag: "--nats" }])
    expect(secretsInArgv(["snakepit", "agent", "--nats", "nats://a:4222,tls://bob:pw@b:4222", "--token", "t"])).toEqual([
      { command: "agent", flag: "--nats" },
      { command: "agent", flag: "--token" },
    ])
    expect(secretsInArgv(["snakepit", "agent", "--nats", "nats://10.0.0.5:4222", "--pool", "p"])).toEqual([])
  })

  // One URL's rules are urlHasCredentials' (natsUrls.test.ts); --nats is a comma-separated list of them.
  it.each([
    ["nats://a:4222, nats://u:p@b:4222", true], ["nats://u:p@a:4222,nats://b:4222", true], ["nats://a:4222,nats://b:4222", false], ["", false],
  ] as [string, boolean][])("natsUrlHasCredentials(%j) is %s", (servers, expected) => {
    expect(natsUrlHasCredentials(servers)).toBe(expected)
  })
})

describe("isSnakepitScript: snakepit's command wherever it lies", () => {
  const root = mkdtempSync(join(tmpdir(), "snakepit-script-"))
  afterAll(() => rmSync(root, { recursive: true, force: true }))
  const file = (path: string, text = "") => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
    return join(root, path)
  }
  const pkg = (dir: string, name: string) => file(`${dir}/package.json`, JSON.stringify({ name }))
  pkg("opt/tools/pit", "snakepit")
  const pit = file("opt/tools/pit/dist/cli.js")
  pkg("opt/tools/other", "other-tool")
  const other = file("opt/tools/other/dist/cli.js")
  pkg("checkout", "snakepit")
  file("checkout/src/cli.ts")
  pkg("checkout/node_modules/tsx", "tsx")
  const tsx = file("checkout/node_modules/tsx/dist/cli.mjs")
  const checkout = join(root, "checkout")

  it("a cli.js or cli.ts of the snakepit package is snakepit, by its package.json, whatever its path says", () => {
    expect(isSnakepitScript(pit, "/")).toBe(true)
    expect(isSnakepitScript("src/cli.ts", checkout)).toBe(true)
    expect(isSnakepitScript("./src/../src/cli.ts", checkout)).toBe(true)
    expect(isSnakepitScript("/usr/bin/snakepit", "/")).toBe(true)
  })

  it("another package's cli.js is not, even inside a snakepit checkout; a missing file counts by its name", () => {
    expect(isSnakepitScript(other, "/")).toBe(false)
    expect(isSnakepitScript(tsx, "/")).toBe(false)
    expect(isSnakepitScript("src/cli.ts", root)).toBe(false)
    expect(isSnakepitScript("/gone/snakepit/dist/cli.js", "/")).toBe(true)
    expect(isSnakepitScript("/gone/tool/dist/cli.js", "/")).toBe(false)
    expect(isSnakepitScript(join(checkout, "package.json"), "/")).toBe(false)
  })

  it("doctor's reading of the reviewed command lines: each secret is found", () => {
    const scan = (argv: string[], cwd = "/") => secretsInArgv(argv, (arg) => isSnakepitScript(arg, cwd))
    expect(scan(["node", "/usr/lib/node_modules/snakepit/dist/cli.js", "agent", "--token", "s3cret"])).toEqual([{ command: "agent", flag: "--token" }])
    expect(scan(["node", "/srv/app/node_modules/.bin/snakepit", "agent", "--nats", "nats://alice:hunter2@nats:4222", "--pool", "p"])).toEqual([
      { command: "agent", flag: "--nats" },
    ])
    expect(scan(["node", "--import", "tsx", "src/cli.ts", "dashboard", "--token", "s3cret-token"], checkout)).toEqual([{ command: "dashboard", flag: "--token" }])
    expect(scan(["node", tsx, "src/cli.ts", "dashboard", "--token", "s3cret-token"], checkout)).toEqual([{ command: "dashboard", flag: "--token" }])
    expect(scan(["node", pit, "dashboard", "--token=s3cret-token"])).toEqual([{ command: "dashboard", flag: "--token" }])
    expect(scan(["node", other, "agent", "--token", "v"])).toEqual([])
  })
})
