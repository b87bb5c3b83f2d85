/**
 * Request slots of the LangSmith transport: which sealed batch goes out next, and when.
 *
 * Each destination (endpoint, key, workspace, project) is a lane with its own line of batches.
 * A lane has at most `perLane` requests in flight and all lanes together at most `total`, with
 * `total` ≥ `perLane`, so one destination can never take every slot. A lane whose last request
 * got no answer in time is "slow": it gets one request at a time, and slow lanes together get at
 * most half of `total`. Destinations that answer therefore keep at least half the slots however
 * many others have gone silent (once each silent one has had its first timeout).
 *
 * Among the lanes allowed a request, the one whose first ready batch is oldest (lowest `seq`)
 * goes first: batches leave in the order they were sealed, except where a lane is at its limit,
 * paused by a Retry-After (`pausedUntil`) or backing off (`notBefore`).
 */

/** What the scheduler keeps per destination (the transport's target state carries these fields). */
export interface Lane<B> {
  /** Batches waiting for a slot (not in flight), by `seq`. */
  queue: B[];
  /** Requests of this lane in flight. */
  active: number;
  /** Set by a Retry-After: no request of this lane before then (epoch ms). */
  pausedUntil: number;
  /** The lane's last request got no answer within the deadline. */
  slow: boolean;
}

/** What the scheduler needs of a batch. */
export interface Slotted<B> {
  /** Sealing order; a split batch's parts keep their batch's. */
  seq: number;
  /** No attempt before then (backoff), epoch ms. */
  notBefore: number;
  state: Lane<B>;
}

export interface RequestSlotsOptions<B> {
  /** Requests in flight at once for one lane. */
  perLane: number;
  /** Requests in flight at once over all lanes (≥ perLane). */
  total: number;
  /** Sends a batch; the transport calls `done(lane, slow)` once it has settled. */
  start: (batch: B) => void;
}

export class RequestSlots<B extends Slotted<B>> {
  private readonly perLane: number;
  private readonly total: number;
  private readonly slowShare: number;
  private readonly start: (batch: B) => void;
  /** Lanes with at least one batch waiting. */
  private readonly lanes = new Set<Lane<B>>();
  private waitingCount = 0;
  private activeCount = 0;
  /** Requests in flight of lanes that are slow now. */
  private slowActive = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(options: RequestSlotsOptions<B>) {
    this.perLane = options.perLane;
    this.total = Math.max(options.total, options.perLane);
    this.slowShare = Math.max(1, Math.floor(this.total / 2));
    this.start = options.start;
  }

  /** Requests in flight. */
  get active(): number {
    return this.activeCount;
  }

  /** Batches waiting for a slot. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** Puts a batch in its lane's line (by seq; after batches of equal seq) and starts what can start. */
  add(batch: B): void {
    if (this.closed) return;
    const queue = batch.state.queue;
    let low = 0;
    let high = queue.length;
    // New batches have the highest seq: check the end first.
    if (high > 0 && queue[high - 1]!.seq <= batch.seq) low = high;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (queue[mid]!.seq <= batch.seq) low = mid + 1;
      else high = mid;
    }
    queue.splice(low, 0, batch);
    this.lanes.add(batch.state);
    this.waitingCount++;
    this.pump();
  }

  /** Removes and returns the oldest waiting batch of all lanes (for the memory budget). */
  takeOldest(): B | undefined {
    let oldest: Lane<B> | undefined;
    for (const lane of this.lanes) {
      if (oldest === undefined || lane.queue[0]!.seq < oldest.queue[0]!.seq) oldest = lane;
    }
    if (oldest === undefined) return undefined;
    const batch = oldest.queue.shift()!;
    if (oldest.queue.length === 0) this.lanes.delete(oldest);
    this.waitingCount--;
    return batch;
  }

  /**
   * Frees a slot of `lane` once its request settled; `slow` says it got no answer in time, which
   * limits the lane until one of its requests is answered.
   */
  done(lane: Lane<B>, slow: boolean): void {
    lane.active--;
    this.activeCount--;
    if (lane.slow) this.slowActive--;
    if (lane.slow !== slow) {
      lane.slow = slow;
      this.slowActive += slow ? lane.active : -lane.active;
    }
    this.pump();
  }

  /** Stops scheduling for good and hands back every batch still waiting. */
  close(): B[] {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const left: B[] = [];
    for (const lane of this.lanes) left.push(...lane.queue.splice(0));
    this.lanes.clear();
    this.waitingCount = 0;
    return left;
  }

  /** Starts the oldest startable batches while slots are free; arms a timer for backoffs and pauses. */
  pump(): void {
    if (this.closed) return;
    const now = Date.now();
    let wakeAt = Number.POSITIVE_INFINITY;
    while (this.activeCount < this.total) {
      let best: B | undefined;
      let bestIndex = 0;
      for (const lane of this.lanes) {
        if (!this.mayStart(lane)) continue; // a completion of this lane (or a slow one) pumps again
        if (lane.pausedUntil > now) {
          wakeAt = Math.min(wakeAt, lane.pausedUntil);
          continue;
        }
        const queue = lane.queue;
        for (let i = 0; i < queue.length; i++) {
          const batch = queue[i]!;
          if (batch.notBefore > now) {
            wakeAt = Math.min(wakeAt, batch.notBefore);
            continue;
          }
          if (best === undefined || batch.seq < best.seq) {
            best = batch;
            bestIndex = i;
          }
          break; // the lane's first ready batch is its candidate
        }
      }
      if (best === undefined) break;
      const lane = best.state;
      lane.queue.splice(bestIndex, 1);
      if (lane.queue.length === 0) this.lanes.delete(lane);
      this.waitingCount--;
      lane.active++;
      this.activeCount++;
      if (lane.slow) this.slowActive++;
      this.start(best);
    }
    // With every slot busy, the next completion pumps again; otherwise wake for the next retry.
    if (this.activeCount < this.total && wakeAt < Number.POSITIVE_INFINITY) this.armTimer(wakeAt);
  }

  private mayStart(lane: Lane<B>): boolean {
    if (lane.active >= this.perLane) return false;
    return !lane.slow || (lane.active === 0 && this.slowActive < this.slowShare);
  }

  private armTimer(at: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.pump();
      },
      Math.max(0, at - Date.now()),
    );
    this.timer.unref();
  }
}
