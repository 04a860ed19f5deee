import { performance } from 'node:perf_hooks';
import { startSimulator, type Simulator } from '../../../src/channels/simulator/index.ts';
import { addDays, daysBetween } from '../../../src/lib/dates.ts';

/**
 * The channel simulator, run inside the benchmark process so the benchmark
 * can see the moment each night is applied at a channel. The hook wraps the
 * state's applyAvailability on this one instance, so the simulator code is
 * unchanged and the time is taken right after the push was applied.
 */

export interface Arrival {
  channel: string;
  parkId: string;
  unitTypeId: string;
  date: string;
  available: number;
  /** performance.now() in this process when the channel applied the night. */
  at: number;
}

export interface BenchSimulator {
  simulator: Simulator;
  url: string;
  /** Calls `listener` for every night of every availability push applied from now on; returns a function that removes it. */
  onArrival(listener: (arrival: Arrival) => void): () => void;
  close(): Promise<void>;
}

export async function startBenchSimulator(): Promise<BenchSimulator> {
  const simulator = await startSimulator({ port: 0 });
  const listeners = new Set<(arrival: Arrival) => void>();
  const state = simulator.state;
  const applyAvailability = state.applyAvailability.bind(state);
  state.applyAvailability = (channel, parkId, updates, version) => {
    const written = applyAvailability(channel, parkId, updates, version);
    if (listeners.size > 0) {
      const at = performance.now();
      for (const update of updates) {
        for (let offset = 0; offset <= daysBetween(update.from, update.to); offset += 1) {
          const arrival = { channel, parkId, unitTypeId: update.unitTypeId, date: addDays(update.from, offset), available: update.available, at };
          for (const listener of listeners) listener(arrival);
        }
      }
    }
    return written;
  };
  return {
    simulator,
    url: simulator.url,
    onArrival(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => simulator.close(),
  };
}
