/**
 * A client of the ArC ONE serial protocol (drivers/arc1/protocol.ts) over any byte Duplex: a serial
 * port at 921600 baud with even parity, or an in-process stream to the emulator. One job at a time;
 * replies are read from a bounded byte buffer as lines or raw float32s, each with a time-out that
 * names the job and the port. After a time-out or a cancelled job the link is "dirty" (replies may
 * still be on their way): `recover()` resets the microcontroller and initialises it again.
 */
import type { Duplex } from "node:stream";
import { XbarError } from "../../firmware-protocol/errors.ts";
import { ErrorCode } from "../../firmware-protocol/index.ts";
import {
  type Arc1Config,
  devicePacket,
  type FormFinderConfig,
  formFinderPacket,
  initPacket,
  pulseActivePacket,
  pulseReadPacket,
  readAllPacket,
  readMaskedPacket,
  readOnePacket,
  selectPacket,
} from "./protocol.ts";

/** Most bytes kept waiting for a reader (a 32 x 32 read-all is 4 KiB). */
const MAX_BUFFER = 1 << 20;

export interface FormPoint {
  word: number;
  bit: number;
  /** Resistance after the step, Ω. */
  resistance: number;
  voltage: number;
  width: number;
}

export class Arc1Client {
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closedError: XbarError | undefined;
  /** True after a time-out or an interrupted job: replies may still arrive. */
  dirty = false;
  config: Arc1Config | undefined;
  readonly bytes = { sent: 0, received: 0 };

  constructor(
    private readonly stream: Duplex,
    readonly name: string,
    /** Reply time-out, ms; default 7000 (libarc1's serial time-out). */
    private readonly timeoutMs = 7000,
    private readonly releaseFn: () => Promise<void> = async () => {
      stream.destroy();
    },
  ) {
    stream.on("data", (d: Buffer) => {
      this.bytes.received += d.length;
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      if (this.buf.length > MAX_BUFFER) this.buf = this.buf.subarray(this.buf.length - MAX_BUFFER);
      this.wake?.();
    });
    const gone = () => {
      this.closedError ??= new XbarError(ErrorCode.DISCONNECTED, "ArC ONE link closed", { port: name });
      this.wake?.();
    };
    stream.once("close", gone);
    stream.once("error", gone);
  }

  private send(text: string): void {
    if (this.closedError) throw this.closedError;
    this.bytes.sent += text.length;
    this.stream.write(text, "latin1");
  }

  /** Waits until `n` bytes (or a line, n = -1) are buffered; returns and consumes them. */
  private async take(n: number, job: string): Promise<Buffer> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const end = n < 0 ? this.buf.indexOf(10) + 1 : this.buf.length >= n ? n : 0;
      if (end > 0) {
        const out = this.buf.subarray(0, end);
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.closedError) throw this.closedError;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.dirty = true;
        throw new XbarError(
          ErrorCode.TIMEOUT,
          `no reply from the ArC ONE to job ${job} within ${this.timeoutMs} ms`,
          {
            command: job,
            port: this.name,
          },
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async floats(n: number, job: string): Promise<Float32Array> {
    const b = await this.take(4 * n, job);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = b.readFloatLE(4 * i);
    return out;
  }

  /** Runs one job exclusively. */
  private job<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Resets the microcontroller ("00"), waits `bootMs`, and initialises with `cfg`. */
  init(cfg: Arc1Config, bootMs = 0): Promise<void> {
    return this.job(async () => {
      this.send("00\n");
      if (bootMs > 0) await new Promise((r) => setTimeout(r, bootMs));
      this.buf = Buffer.alloc(0);
      this.send(initPacket(cfg));
      const ack = (await this.take(-1, "0 (INIT)")).toString("latin1").trim();
      if (ack !== "1")
        throw new XbarError(ErrorCode.MALFORMED, `ArC ONE answered INIT with "${ack.slice(0, 20)}", not 1`, {
          command: "INIT",
          port: this.name,
        });
      this.config = { ...cfg };
      this.dirty = false;
    });
  }

  /** After a time-out: reset and initialise again with the last configuration. */
  async recover(): Promise<void> {
    if (!this.dirty || !this.config || this.closedError) return;
    await this.init(this.config, 0);
  }

  readOne(word: number, bit: number): Promise<number> {
    return this.job(async () => {
      this.send(readOnePacket(word, bit));
      return (await this.floats(1, "1 (READ_ONE)"))[0]!;
    });
  }

  readAll(words: number, bits: number): Promise<Float32Array> {
    return this.job(async () => {
      this.send(readAllPacket(words, bits));
      return this.floats(words * bits, "2 (READ_ALL)");
    });
  }

  readMasked(devices: Array<[number, number]>): Promise<Float32Array> {
    return this.job(async () => {
      this.send(readMaskedPacket(devices.length));
      const out = new Float32Array(devices.length);
      for (let i = 0; i < devices.length; i++) {
        const [w, b] = devices[i]!;
        this.send(devicePacket(w, b));
        out[i] = (await this.floats(1, "2 (READ_MASKED)"))[0]!;
      }
      return out;
    });
  }

  /** `count` pulses on one device (select, then pulse the selected device). */
  pulse(word: number, bit: number, v: number, width: number, count: number): Promise<void> {
    return this.job(async () => {
      this.send(selectPacket(word, bit));
      for (let k = 0; k < count; k++) this.send(pulseActivePacket(v, width));
    });
  }

  pulseRead(word: number, bit: number, v: number, width: number): Promise<number> {
    return this.job(async () => {
      this.send(pulseReadPacket(word, bit, v, width));
      return (await this.floats(1, "3 (PULSEREAD)"))[0]!;
    });
  }

  /** FormFinder on the given devices: every (R, V, pw) step the board reports. */
  formFinder(f: FormFinderConfig, devices: Array<[number, number]>): Promise<FormPoint[]> {
    return this.job(async () => {
      this.send(formFinderPacket(f, devices.length));
      const out: FormPoint[] = [];
      for (const [word, bit] of devices) {
        this.send(devicePacket(word, bit));
        for (let k = 0; k < 100000; k++) {
          const [resistance, voltage, width] = await this.floats(3, "141 (FormFinder)");
          if (!(resistance! > 0)) break;
          out.push({ word, bit, resistance: resistance!, voltage: voltage!, width: width! });
        }
      }
      return out;
    });
  }

  async close(): Promise<void> {
    await this.releaseFn().catch(() => {});
  }
}
