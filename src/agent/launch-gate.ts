/**
 * Bounds how many executors boot at once (from launch until they subscribe, exit or fail).
 *
 * Each executor is a Node process whose start costs ≈ 0.2 CPU-seconds (src/containerizer/README.md,
 * "Launch latency"). Started all together, 64 of them share 2 CPUs fairly and none subscribes for
 * ≈ 8 s; admitted a few at a time they finish in order, at the same total CPU cost, so tasks
 * complete steadily instead of all at the end. First come, first served. The launcher asks for a
 * slot (`LaunchSpec.admit`) right before it starts an executor process; a command executor the
 * containerizer hosts in the agent boots nothing and takes none.
 */
export class LaunchGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  /**
   * @param limit executors booting at once
   * @param holdMs a slot is given back after this long even when nobody released it (an executor
   *   that neither subscribes nor exits must not stall every later launch)
   */
  constructor(
    readonly limit: number,
    private readonly holdMs = 10_000,
  ) {
    if (!(limit >= 1)) throw new Error(`launch gate limit must be at least 1, not ${limit}`);
  }

  get booting(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves once a slot is free, with its release (idempotent). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.active++;
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          clearTimeout(timer);
          this.active--;
          this.waiting.shift()?.();
        };
        const timer = setTimeout(release, this.holdMs);
        timer.unref();
        resolve(release);
      };
      if (this.active < this.limit) grant();
      else this.waiting.push(grant);
    });
  }
}
