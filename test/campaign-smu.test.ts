/**
 * The SCPI source-measure unit: the driver (drivers/scpi/smu.ts) against the emulated SMU
 * (mocks/smu.ts) in-process and over a TCP socket, what the wire carries, and an `iv` step in a
 * campaign.
 */
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonical, EmulatedSmu, serveSmuStream } from "../mocks/smu.ts";
import { connectSmu } from "../src/board/instrument.ts";
import { parseCampaign } from "../src/campaigns/load.ts";
import { RunStore } from "../src/campaigns/store/run-store.ts";
import { describeRun, runXbar, stopAll } from "../tools/run-xbar.ts";

const servers: Server[] = [];
afterAll(async () => {
  await stopAll();
  for (const s of servers) s.close();
});

describe("emulated SMU (SCPI)", () => {
  it("accepts long and short forms, answers in the 2400's reading format, queues errors", () => {
    expect(canonical(":source:voltage:level")).toBe("SOUR:VOLT");
    expect(canonical(":SENSe:CURRent:PROTection")).toBe("SENS:CURR:PROT");
    expect(canonical("SYST:ERR?")).toBe("SYST:ERR?");
    const smu = new EmulatedSmu("S1", { g: 1e-5, vset: 5, vreset: 5 });
    expect(smu.handle("*IDN?")).toBe("KEITHLEY INSTRUMENTS INC.,MODEL 2400,S1,C30 xbar-emulated");
    expect(
      smu.handle(":SOURce:FUNCtion VOLTage;:SOUR:VOLT:LEV 0.5;:SENS:CURR:PROT 1e-3;:OUTPut ON"),
    ).toBeUndefined();
    const r = smu.handle(":READ?")!.split(",").map(Number);
    expect(r).toHaveLength(5);
    expect(r[0]).toBe(0.5);
    expect(r[1]).toBeCloseTo(1e-5 * 0.5 * (1 + 0.1 * 0.25), 12);
    expect(smu.handle(":SOUR:VOLT 500")).toBeUndefined();
    expect(smu.handle(":FROB 1")).toBeUndefined();
    expect(smu.handle(":SYST:ERR?")).toBe('-222,"Data out of range"');
    expect(smu.handle(":SYST:ERR?")).toBe('-113,"Undefined header"');
    expect(smu.handle(":SYST:ERR?")).toBe('0,"No error"');
  });
});

describe("SMU driver", () => {
  it("identifies, sweeps, flags compliance, turns the output off after a sweep (in-process)", async () => {
    const smu = await connectSmu("smu-emu://?g=1e-5&vset=1&vreset=1");
    try {
      expect(smu.identity).toEqual({
        vendor: "KEITHLEY INSTRUMENTS INC.",
        model: "MODEL 2400",
        serial: "EMU0001",
        firmware: "C30 xbar-emulated",
      });
      const pts = await smu.sweepVoltage({ start: -1, stop: 1, points: 21, compliance: 1e-4 });
      expect(pts.map((p) => Number(p.v.toFixed(6)))).toEqual(
        Array.from({ length: 21 }, (_, k) => Number((-1 + k * 0.1).toFixed(6))),
      );
      expect(pts.every((p) => Math.sign(p.i) === Math.sign(p.v) && !p.compliance)).toBe(true);
      expect(await smu.query(":OUTP?")).toBe("0");
      const limited = await smu.sweepVoltage({ start: 0, stop: 2, points: 5, compliance: 1e-6 });
      expect(limited.at(-1)).toMatchObject({ i: 1e-6, compliance: true });
      await expect(smu.sourceVoltage(500)).rejects.toMatchObject({ code: 608 });
    } finally {
      await smu.close();
    }
  });

  it("works over socket:// with the bytes a 2400 expects (LF-terminated SCPI)", async () => {
    const wire: string[] = [];
    const server = createServer((sock) => {
      sock.on("data", (d) => wire.push(d.toString()));
      serveSmuStream(new EmulatedSmu("TCP1"), sock);
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const smu = await connectSmu(`socket://127.0.0.1:${port}`);
    try {
      expect(smu.identity?.serial).toBe("TCP1");
      await smu.sourceVoltage(0.1, 1e-3);
      await smu.output(true);
      const m = await smu.measure();
      expect(m.v).toBe(0.1);
      await smu.output(false);
      const sent = wire.join("");
      expect(sent.startsWith("*IDN?\n*RST\n*CLS\n:SYST:ERR?\n")).toBe(true);
      expect(sent).toContain(
        ":SOUR:FUNC VOLT\n:SOUR:VOLT:MODE FIX\n:SOUR:VOLT 0.1\n:SENS:CURR:PROT 0.001\n:SYST:ERR?\n",
      );
      expect(sent).toContain(":OUTP ON\n:SYST:ERR?\n:READ?\n:OUTP OFF\n");
    } finally {
      await smu.close();
    }
  });
});

describe("iv steps in campaigns", () => {
  it("refuses an iv step without an instrument, naming the line", () => {
    expect(() =>
      parseCampaign(
        "name: t\nboard: emu://\nsteps:\n  - identify: {}\n  - iv: { start: -1, stop: 1, points: 11 }\n",
        "c.yaml",
      ),
    ).toThrow(/^E608 BAD_INPUT: c\.yaml:5: steps\[1\]\.iv: needs an instrument/);
  });

  it("runs examples/iv-smu.yaml: hysteresis loops recorded, the SMU's identity with the run", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "xbar-smu-")), "iv.sqlite");
    const r = await runXbar(["run", "examples/iv-smu.yaml", "--db", db], { timeoutMs: 60_000 });
    expect(r.code, describeRun(r)).toBe(0);
    const store = await RunStore.open(db);
    try {
      const run = (await store.runs())[0]!;
      expect((run.identity as { instrument: { model: string } }).instrument.model).toBe("MODEL 2400");
      const iv = await store.measurements(run.id, "iv");
      expect(iv).toHaveLength(4 * 33);
      // A pinched loop: at +1.5 V the current going up differs from the current coming back.
      const at = (label: string) =>
        iv.find((m) => m.label === label && Math.abs((m.x ?? 0) - 1.5) < 1e-9)!.y!;
      expect(Math.abs(at("sweep 2") - at("sweep 1"))).toBeGreaterThan(0.1 * Math.abs(at("sweep 1")));
    } finally {
      await store.close();
    }
  }, 60_000);
});
