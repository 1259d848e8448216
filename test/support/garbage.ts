/**
 * A full garbage collection on demand, what `node --expose-gc` gives as `gc`, without starting
 * the test's Node with that flag: to show that something is let go of once its last reference
 * is (a dropped iterator, say).
 */
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"

setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

/**
 * Runs a full garbage collection now; `FinalizationRegistry` callbacks follow in a later task.
 *
 * @example
 * await eventually(() => (collectGarbage(), released()), 20_000, "the dropped iterator collected")
 */
export const collectGarbage = (): void => gc()
