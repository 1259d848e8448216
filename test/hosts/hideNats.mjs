// Loaded with `node --import`: every `@nats-io/*` import fails as in a project that did not
// install the optional NATS client (see test/integration/natsOptional.test.ts).
import { register } from "node:module"

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier.startsWith("@nats-io/")) {
    const error = new Error("Cannot find package '" + specifier + "' (hidden by test/hosts/hideNats.mjs)")
    error.code = "ERR_MODULE_NOT_FOUND"
    throw error
  }
  return next(specifier, context)
}
`
register(`data:text/javascript,${encodeURIComponent(hooks)}`)
