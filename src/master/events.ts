/**
 * The master's typed change notifications: `Master` emits one `MasterEvent` wherever a task,
 * agent or framework changes in a way the operator event stream reports (reference section 4.2),
 * and observers (operator-events.ts) subscribe. Emission is synchronous, in the order the master
 * makes the changes, so an observer that snapshots state inside `emit` sees a consistent cut.
 *
 * Events carry the live records; an observer that keeps anything past the call must copy it.
 * Nothing is filtered here: whether a task update is worth publishing is the observer's rule
 * (`isPublishedTaskUpdate` in operator-events.ts).
 */
import type { Task, TaskState, TaskStatus } from '../wire/gen/mesos/v1/mesos_pb.js';
import type { AgentRecord, FrameworkRecord } from './master.js';

export type MasterEvent =
  /** A task the master now tracks: launched (STAGING) or reported by a re-registering agent. */
  | { kind: 'task-added'; task: Task }
  /**
   * A status applied to a task: `status` is the update as received (agent or master generated),
   * `task.state` the state now recorded (an agent's `latest_state` may be newer than the update's),
   * `previousState` the state recorded before.
   */
  | { kind: 'task-updated'; task: Task; status: TaskStatus; previousState: TaskState }
  /** An agent became registered: new, re-registered after a master failover, or back from unreachable. */
  | { kind: 'agent-added'; agent: AgentRecord }
  /** A registered agent stopped being one: unreachable, shut down, removed or marked gone. */
  | { kind: 'agent-removed'; agentId: string }
  | { kind: 'framework-added'; framework: FrameworkRecord }
  /** Re-subscription (failover) or UPDATE_FRAMEWORK. */
  | { kind: 'framework-updated'; framework: FrameworkRecord }
  /** Teardown or failover timeout: it is in `completedFrameworks` now. */
  | { kind: 'framework-removed'; framework: FrameworkRecord };

export type MasterEventListener = (event: MasterEvent) => void;

export class MasterEvents {
  private readonly listeners = new Set<MasterEventListener>();

  /** Open operator event streams: the `master/operator_event_stream_subscribers` gauge. */
  operatorSubscribers = 0;

  /** `onListenerError`: where a listener's exception goes; the master's own work goes on. */
  constructor(private readonly onListenerError: (err: unknown) => void) {}

  /** Adds a listener; the returned function removes it. */
  on(listener: MasterEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called by Master only, after the change is made. */
  emit(event: MasterEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
