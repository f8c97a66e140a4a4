/**
 * Exactly-once programming: tens of thousands of pulses through a link that drops and corrupts a few
 * per cent of the lines in both directions, compared with a fault-free run of the same seed (the
 * board's own pulse counter and every conductance). See tools/reliability/soak.ts.
 *
 * Without the client's replay-window span bound (PROTOCOL.md §3) this soak doubles 80 to 740 pulses
 * per seed: a window of 16 on a fast link executes more than 64 requests while one lost reply waits
 * for its timeout, and its retransmission no longer finds the stored reply.
 */
import { describe, expect, it } from "vitest";
import { runSoak } from "../tools/reliability/soak.ts";

describe("exactly-once programming soak", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: ~35 000 pulses, 3 % of lines dropped and 3 % corrupted each way: none lost, none doubled`, async () => {
      const r = await runSoak({ seed, commands: 600 });
      expect(r.planned).toBeGreaterThan(30_000);
      expect(r.faults.dropped + r.faults.corrupted).toBeGreaterThan(40);
      expect(r.client.retransmissions).toBeGreaterThan(0);
      expect(r.cleanCount).toBe(r.planned);
      expect(r.faultyCount).toBe(r.planned);
      expect(r.lost).toBe(0);
      expect(r.doubled).toBe(0);
      expect(r.devicesDiffering).toBe(0);
    }, 30_000);
  }

  it("split lines and lost bytes as well (1 in 5000 bytes): still exactly once", async () => {
    const r = await runSoak({
      seed: 4,
      commands: 300,
      faults: { drop: 0.02, corrupt: 0.02, dropByte: 0.0002, split: true, seed: 9 },
    });
    expect(r.faults.droppedBytes).toBeGreaterThan(0);
    expect(r.faultyCount).toBe(r.planned);
    expect(r.lost + r.doubled + r.devicesDiffering).toBe(0);
  }, 30_000);
});
