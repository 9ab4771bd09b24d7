/**
 * The master's timers (src/metrics/timer.ts): each one is a `/metrics/snapshot` timer and a
 * `/metrics` histogram at once. The Master calls the hooks below at the moments that start and
 * end each measurement; everything else (stopwatch, window, buckets) lives here.
 *
 * - `allocator/mesos/allocation_run_ms` (Mesos' name): one allocation cycle, from asking the
 *   allocator to the last OFFERS event written; `allocator/mesos/allocation_runs` counts them.
 * - `master/offer_to_launch_ms` (Strata): from an offer being sent to the ACCEPT that launches a
 *   task or task group on it, once per offer so accepted.
 * - `master/status_update_round_trip_ms` (Strata): from the master forwarding an agent's status
 *   update (the first time for its uuid) to the framework's ACKNOWLEDGE of it.
 */
import { COMPUTE_BUCKETS, LATENCY_BUCKETS, Timer } from '../metrics/timer.js';

/** What the hooks read and write on the Master's records (OfferRecord, TaskRecord). */
interface SentOffer {
  readonly sentAt?: number;
}
interface TrackedTask {
  task: { statusUpdateUuid: Uint8Array };
  updateSentAt?: number | undefined;
}

export class MasterTimers {
  readonly allocationRun = new Timer({
    key: 'allocator/mesos/allocation_run_ms',
    help: 'Time one allocation cycle took, from asking the allocator to the last OFFERS event sent',
    buckets: COMPUTE_BUCKETS,
  });
  readonly offerToLaunch = new Timer({
    key: 'master/offer_to_launch_ms',
    help: 'Time from an offer being sent to the ACCEPT that launches tasks on it',
    buckets: LATENCY_BUCKETS,
  });
  readonly statusUpdateRoundTrip = new Timer({
    key: 'master/status_update_round_trip_ms',
    help: "Time from the master forwarding a status update to the framework's ACKNOWLEDGE of it",
    buckets: LATENCY_BUCKETS,
  });

  get all(): readonly Timer[] {
    return [this.allocationRun, this.offerToLaunch, this.statusUpdateRoundTrip];
  }

  /** A stopwatch reading for `sentAt` fields. */
  now(): number {
    return this.offerToLaunch.now();
  }

  /** An ACCEPT consumed `offers`; `launches` says whether it launched anything on them. */
  offersAccepted(offers: readonly SentOffer[], launches: boolean): void {
    if (!launches) return;
    for (const offer of offers) if (offer.sentAt !== undefined) this.offerToLaunch.observeSince(offer.sentAt);
  }

  /**
   * A status update with `uuid` is about to be forwarded for `record` (called before the record
   * takes the uuid). A resend of the pending update keeps the time of its first forward.
   */
  updateForwarded(record: TrackedTask, uuid: Uint8Array): void {
    if (record.updateSentAt !== undefined && sameBytes(record.task.statusUpdateUuid, uuid)) return;
    record.updateSentAt = this.statusUpdateRoundTrip.now();
  }

  /** The framework acknowledged the update `record` was waiting on. */
  updateAcknowledged(record: TrackedTask): void {
    if (record.updateSentAt === undefined) return;
    this.statusUpdateRoundTrip.observeSince(record.updateSentAt);
    record.updateSentAt = undefined;
  }

  /** The timers' keys for `/metrics/snapshot`, and the cycle counter Mesos has beside its timer. */
  snapshotInto(out: Record<string, number>): void {
    for (const timer of this.all) timer.snapshotInto(out);
    out['allocator/mesos/allocation_runs'] = this.allocationRun.count;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
