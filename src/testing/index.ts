/**
 * `snakepit/testing`: tools for proving your own service resilient against misbehaving Python
 * workers. See docs/testing.md.
 *
 * @example
 * import { createFaults } from "snakepit/testing"
 * const faults = createFaults(bridge) // bridge started with testing: true
 * faults.kill("w1")
 */
export { createFaults } from "./faults.js"
export type { Faults } from "./faults.js"
