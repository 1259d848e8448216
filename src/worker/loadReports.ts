/**
 * When a worker's load is reported to its machine (busy, then ready again). Busy is reported as
 * soon as a call is in flight; ready only once nothing has been in flight for `idleMs`, so that
 * neither a caller awaiting call after call nor a pipe refilled in bursts (an agent's calls
 * arrive a NATS message at a time) has the worker flap between states. Each flap is two events
 * through the worker's machine and its subscribers: reported one macrotask after the drain, as
 * they were, they cost an agent serving 64 calls in flight a quarter of its CPU per call
 * (`bench/remoteCpu.ts`), the worker draining once per message. One timer at most is armed.
 *
 * @example
 * const reports = loadReports({ idleMs: 5, inFlight: () => connection.inFlight, report: (n) => send({ type: "LOAD", inFlight: n }) })
 * reports.changed(1) // reports 1 at once
 * reports.changed(0) // reports 0 once nothing has been in flight for 5 ms
 * reports.stop()     // when the worker ends
 */
export interface LoadReports {
  /** The worker's calls in flight changed to `inFlight`. */
  readonly changed: (inFlight: number) => void
  /** Ends the reports: a pending ready report is not made. */
  readonly stop: () => void
}

/** Settings of {@link loadReports}. */
export interface LoadReportsOptions {
  /** How long nothing must be in flight before ready is reported. */
  readonly idleMs: number
  /** The calls in flight now (read when the idle period ends). */
  readonly inFlight: () => number
  /** Reports the load: a positive number when busy, 0 when ready again. */
  readonly report: (inFlight: number) => void
}

/** Reports a worker's load changes as {@link LoadReports} describes. */
export const loadReports = ({ idleMs, inFlight, report }: LoadReportsOptions): LoadReports => {
  let reportedBusy = false
  let idleSince = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const check = () => {
    timer = undefined
    if (!reportedBusy || inFlight() > 0) return
    const left = idleSince + idleMs - performance.now()
    if (left > 0) {
      timer = setTimeout(check, left)
      return
    }
    reportedBusy = false
    report(0)
  }
  return {
    changed: (n) => {
      if (n > 0) {
        if (!reportedBusy) {
          reportedBusy = true
          report(n)
        }
      } else if (reportedBusy) {
        idleSince = performance.now()
        timer ??= setTimeout(check, idleMs)
      }
    },
    stop: () => {
      if (timer) clearTimeout(timer)
      timer = undefined
      reportedBusy = false
    },
  }
}
