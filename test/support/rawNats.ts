/**
 * Publishes what the NATS client refuses to build: a message with a raw header section, written
 * as protocol text on a socket of its own (`HPUB`). `nats-server` relays a header whose field name
 * holds a space, which the NATS client throws on when its receiver reads `msg.headers`.
 */
import { createConnection } from "node:net"

/** A header section whose one field name holds a space: relayed by the server, refused by the client's parser. */
export const MALFORMED_HEADER = "NATS/1.0\r\nbad key: x\r\n\r\n"

/**
 * Publishes `payload` with the raw `header` on `subject` through the server on `port` (no
 * credentials), and resolves once the server has answered a PING after it.
 *
 * @example
 * await rawPublish(nats.port, "snakepit.p.client.c1.reply.x", MALFORMED_HEADER, "")
 */
export async function rawPublish(port: number, subject: string, header: string, payload: string | Uint8Array): Promise<void> {
  const socket = createConnection(port, "127.0.0.1")
  try {
    let text = ""
    const ponged = new Promise<void>((resolve, reject) => {
      socket.on("data", (d: Buffer) => {
        text += d.toString("latin1")
        if (text.includes("-ERR")) reject(new Error(`the server refused: ${text}`))
        // The first PONG answers the CONNECT's PING; the second, the one after the HPUB.
        else if ((text.match(/PONG\r\n/g) ?? []).length >= 2) resolve()
      })
      socket.on("error", reject)
    })
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject))
    const h = Buffer.from(header, "latin1")
    const body = Buffer.from(payload)
    socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, no_responders: true, protocol: 1 })}\r\nPING\r\n`)
    socket.write(Buffer.concat([Buffer.from(`HPUB ${subject} ${h.length} ${h.length + body.length}\r\n`), h, body, Buffer.from("\r\nPING\r\n")]))
    await ponged
  } finally {
    socket.destroy()
  }
}
