/**
 * The `xbar` command. Every subcommand connects through `connect(url)` and sees only the Board
 * interface, so each works the same on a real board, a socket and the in-process emulator.
 * Errors print one line `xbar: E<code> <NAME>: <what> (<context>)` and exit non-zero; never a stack
 * trace unless XBAR_DEBUG=1.
 */
import { closeSync, openSync, writeFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { stringify } from "csv-stringify/sync";
import { firstValueFrom, lastValueFrom, tap, toArray } from "rxjs";
import { XbarError } from "../../drivers/index.ts";
import { redactSecrets } from "../../firmware-protocol/index.ts";
import type { Board, ConductanceMap } from "../board/board.ts";
import { connect, emulatorPresets } from "../board/connect.ts";
import { characterize, DEFAULT_PULSE, programVerify } from "../pipelines/index.ts";
import { addRunCommands } from "./campaigns.ts";
import { runDemo } from "./demo.ts";
import { runEmulate } from "./emulate.ts";
import { eng, shadeMap, stats } from "./format.ts";
import { defaultPort, intArg, numArg, PORT_HELP } from "./options.ts";
import { progressBar } from "./progress.ts";
import { addRetrainCommand } from "./retrain.ts";
import { readTargets } from "./targets-file.ts";
import { addTrainCommand } from "./train.ts";

/** A fraction in [0, 1]. */
const rate = (v: number) => v >= 0 && v <= 1;

/** Exit codes. */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_CONVERGED: 3 } as const;

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const outRaw = (s: string): void => {
  process.stdout.write(s);
};

async function withBoard<T>(url: string, fn: (b: Board) => Promise<T>): Promise<T> {
  const board = await connect(url);
  try {
    return await fn(board);
  } catch (e) {
    // Leave the array idle whatever failed (the board grounds its lines after every command anyway).
    await firstValueFrom(board.abort()).catch(() => {});
    throw e;
  } finally {
    await board.close();
  }
}

/** Refuses an output path that cannot be written (missing folder, a folder, no permission). */
function checkWritable(path: string): void {
  try {
    const fd = openSync(path, "a");
    closeSync(fd);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT"
        ? "its folder does not exist"
        : err.code === "EISDIR"
          ? "it is a folder"
          : err.code === "EACCES"
            ? "permission denied"
            : err.message;
    throw new XbarError(608, `cannot write ${path}: ${why}`);
  }
}

function mapCsv(m: ConductanceMap): string {
  const rows: Array<[number, number, number]> = [];
  for (let r = 0; r < m.rows; r++)
    for (let c = 0; c < m.cols; c++) rows.push([m.r0 + r, m.c0 + c, m.data[r * m.cols + c]!]);
  return stringify(rows, { header: true, columns: ["row", "col", "conductance_S"] });
}

/** The programming pulse of `program` and `characterize`: amplitudes and width, with the defaults. */
const pulseOptions = {
  set: () =>
    new Option("--set-amplitude <volts>", "potentiating amplitude, V")
      .argParser(numArg("--set-amplitude", (v) => v > 0, "positive"))
      .default(DEFAULT_PULSE.setAmplitude),
  reset: () =>
    new Option("--reset-amplitude <volts>", "depressing amplitude, V")
      .argParser(numArg("--reset-amplitude", (v) => v < 0, "negative"))
      .default(DEFAULT_PULSE.resetAmplitude),
  width: () =>
    new Option("--width <seconds>", "pulse width, s")
      .argParser(numArg("--width", (v) => v > 0, "positive"))
      .default(DEFAULT_PULSE.width),
};

const portOption = () =>
  new Option("-p, --port <url>", PORT_HELP).default(defaultPort(), "$XBAR_PORT or the emulator");

export function buildProgram(): Command {
  const program = new Command("xbar")
    .description("Drive memristor crossbar boards (real or emulated) over the xbar line protocol.")
    .version("0.1.0")
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Examples:
  xbar demo                                      run the demo on the built-in emulated board
  xbar emulate --listen 127.0.0.1:5025           serve an emulated board on TCP
  xbar idn --port socket://127.0.0.1:5025        identify it
  xbar read --port /dev/ttyUSB0 --all --csv      read a real board's whole array

Exit status: 0 success, 1 error (one line on stderr), 2 bad usage, 3 devices not programmed.`,
    );

  program
    .command("demo")
    .description(
      "identify the board, characterise a few devices, program a pattern with verify, read it back",
    )
    .addOption(portOption())
    .addHelpText("after", "\nExamples:\n  xbar demo\n  xbar demo --port socket://127.0.0.1:5025")
    .action(async (o) => runDemo(o.port, out));

  program
    .command("emulate")
    .description("serve an emulated crossbar board on a TCP port or a serial device path until interrupted")
    .option("--listen <[host:]port>", "TCP address to listen on (host defaults to 127.0.0.1, loopback)")
    .option("--serial <path>", "serial device path to serve on, e.g. one end of a socat pty pair")
    .option("--rows <n>", "array rows", intArg("--rows", 1, 4096), 64)
    .option("--cols <n>", "array columns", intArg("--cols", 1, 4096), 64)
    .addOption(
      new Option("--device <name>", "device model preset")
        .choices(emulatorPresets().map((d) => d.name))
        .default("agsi"),
    )
    .option("--seed <n>", "seed of all randomness", intArg("--seed", 0, 2 ** 31 - 1), 1)
    .option(
      "--noise <scale>",
      "scale of the device's randomness (C2C, programming and read noise, D2D spread); 0 = its mean device",
      numArg("--noise", (v) => v >= 0 && v <= 10, "a scale in [0, 10]"),
      1,
    )
    .option("--lut <file.csv>", "pulse-response table for --device lut (the CSV of xbar characterize --out)")
    .option("--sneak", "passive array: sneak currents in reads under the biasing scheme")
    .option("--disturb", "passive array: half-select disturb of programming pulses")
    .option(
      "--stuck-low <rate>",
      "fraction of devices stuck at low conductance",
      numArg("--stuck-low", rate, "in [0, 1]"),
    )
    .option(
      "--stuck-high <rate>",
      "fraction of devices stuck at high conductance",
      numArg("--stuck-high", rate, "in [0, 1]"),
    )
    .option(
      "--read-noise <sigma>",
      "relative read noise of each device current",
      numArg("--read-noise", rate, "in [0, 1]"),
    )
    .option("--adc-bits <n>", "ADC resolution of every sensed current, bits", intArg("--adc-bits", 2, 24))
    .option(
      "--adc-range <amps>",
      "ADC full scale, A (default: one device at 1 V and the preset's Gmax)",
      numArg("--adc-range", (v) => v > 0 && v <= 1, "a current in (0, 1] A"),
    )
    .option(
      "--wire <ohms>",
      "line resistance per cell segment, ohm",
      numArg("--wire", (v) => v >= 0 && v <= 1e4, "in [0, 10000]"),
    )
    .option(
      "--fault <spec>",
      "misbehave on the link, seeded: drop:P (lines), dropbyte:P, corrupt:P, delay:Dms, split, reset-after:N, disconnect-after:N, stall-after:N, seed:S (comma-separated)",
    )
    .option("--allow-remote", "allow --listen on an address other than loopback (needs a token)")
    .option(
      "--token-file <file>",
      "file whose first line is the token every client must present (default: $XBAR_TOKEN, then $XBAR_TOKEN_FILE)",
    )
    .option(
      "--token <secret>",
      "the token itself (other users see it in `ps`: prefer --token-file or $XBAR_TOKEN)",
    )
    .option(
      "--max-connections <n>",
      "TCP connections served at once; more are refused (REJECT 405)",
      intArg("--max-connections", 1, 1024),
      8,
    )
    .option(
      "--idle-timeout <seconds>",
      "close the session's connection after this long without a request (0: never)",
      intArg("--idle-timeout", 0, 604800),
      3600,
    )
    .addHelpText("after", () => {
      const presets = emulatorPresets();
      const width = Math.max(...presets.map((d) => d.name.length));
      return `
Device presets:
${presets.map((d) => `  ${d.name.padEnd(width)}  ${d.description}`).join("\n")}

Array effects are off unless given; the board reports them in IDN effects= (docs/devices.md).

Examples:
  xbar emulate --listen 5025 --device linear --rows 128 --cols 128
  xbar emulate --listen 5025 --device pcm --sneak --stuck-low 0.01 --read-noise 0.02
  xbar emulate --listen 5025 --device lut --lut curve.csv      (curve.csv from xbar characterize --out)
  xbar emulate --listen 5025 --device linear --fault drop:0.02,corrupt:0.02,delay:5ms,split,seed:3
  xbar emulate --listen 0.0.0.0:5025 --allow-remote --token-file lab.token   (lab.token: the token on one line)
      clients: XBAR_TOKEN=... xbar idn --port socket://HOST:5025, or socket://HOST:5025?token-file=lab.token

One connection at a time holds the board's session (others: 402 BUSY); a connection that has not
opened the session within 30 s is closed, and a client that does not read its replies is dropped
after 30 s (docs/reliability.md, "What listens").
  socat -d -d pty,raw,echo=0,link=/tmp/xbar-board pty,raw,echo=0,link=/tmp/xbar-host &
  xbar emulate --serial /tmp/xbar-board &  xbar idn --port /tmp/xbar-host`;
    })
    .action(async (o) => runEmulate(o, out));

  program
    .command("idn")
    .description("identify the board: vendor, model, firmware, protocol, array size, technology, limits")
    .addOption(portOption())
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  xbar idn --port /dev/ttyUSB0\n  xbar idn --port socket://127.0.0.1:5025 --json",
    )
    .action(async (o) =>
      withBoard(o.port, async (b) => {
        if (o.json)
          return out(JSON.stringify({ url: b.url, identity: b.identity, limits: b.limits }, null, 2));
        const i = b.identity;
        out(`${i.vendor} ${i.model} serial ${i.serial}, firmware ${i.firmware}, protocol ${i.protocol}`);
        out(
          `array ${i.rows} x ${i.cols} of ${i.technology} devices; array effects: ${i.effects}; window ${i.window}; line limit ${i.maxLine} bytes`,
        );
        const l = b.limits;
        out(
          `envelope: |v| <= ${l.vmax} V, width ${eng(l.wmin, "s")} .. ${eng(l.wmax, "s")}, <= ${l.nmax} pulses, read |v| <= ${l.vrmax} V, compliance <= ${eng(l.ccmax, "A")}`,
        );
      }),
    );

  program
    .command("stat")
    .description("the board's own counters: pulses, reads, VMMs, energy, commands, errors, clock")
    .addOption(portOption())
    .option("--json", "print JSON")
    .option("--clear", "clear the counters after reporting them")
    .addHelpText(
      "after",
      "\nExamples:\n  xbar stat --port socket://127.0.0.1:5025\n  xbar stat --port /dev/ttyUSB0 --json --clear",
    )
    .action(async (o) =>
      withBoard(o.port, async (b) => {
        const c = await firstValueFrom(b.counters(Boolean(o.clear)));
        if (o.json) return out(JSON.stringify(c));
        out(
          `pulses ${c.pulses}, reads ${c.reads}, VMM vectors ${c.vmms}, energy ${eng(c.energy, "J")}, commands ${c.commands}, errors ${c.errors}, clock ${eng(c.clock, "s")}`,
        );
      }),
    );

  program
    .command("read")
    .description("read one device or the whole array")
    .addOption(portOption())
    .option("--row <r>", "row of the device", intArg("--row"))
    .option("--col <c>", "column of the device", intArg("--col"))
    .option("--all", "read the whole array")
    .option("--json", "print JSON")
    .option("--csv", "print CSV: row,col,conductance_S")
    .addHelpText("after", "\nExamples:\n  xbar read --row 3 --col 5\n  xbar read --all --csv > map.csv")
    .action(async (o) => {
      const single = o.row !== undefined || o.col !== undefined;
      if (single === Boolean(o.all)) throw new XbarError(608, "give either --row R --col C or --all");
      if (single && (o.row === undefined || o.col === undefined))
        throw new XbarError(608, "give both --row and --col");
      if (o.json && o.csv) throw new XbarError(608, "give at most one of --json and --csv");
      await withBoard(o.port, async (b) => {
        const m: ConductanceMap = single
          ? {
              r0: o.row,
              c0: o.col,
              rows: 1,
              cols: 1,
              data: Float32Array.of(await firstValueFrom(b.read(o.row, o.col))),
            }
          : await firstValueFrom(b.readAll());
        if (o.json)
          return out(
            JSON.stringify({
              r0: m.r0,
              c0: m.c0,
              rows: m.rows,
              cols: m.cols,
              unit: "S",
              data: Array.from(m.data),
            }),
          );
        if (o.csv) return outRaw(mapCsv(m));
        if (single) return out(`r=${o.row} c=${o.col}: G = ${eng(m.data[0]!, "S")}`);
        const s = stats(m.data);
        out(
          `${m.rows} x ${m.cols} devices: min ${eng(s.min, "S")}, mean ${eng(s.mean, "S")}, max ${eng(s.max, "S")}`,
        );
        out(shadeMap(m));
      });
    });

  program
    .command("pulse")
    .description("apply a pulse train to one device (positive amplitude potentiates, negative depresses)")
    .addOption(portOption())
    .requiredOption("--row <r>", "row", intArg("--row"))
    .requiredOption("--col <c>", "column", intArg("--col"))
    .requiredOption("--amplitude <volts>", "amplitude, V (signed)", numArg("--amplitude"))
    .requiredOption(
      "--width <seconds>",
      "pulse width, s (e.g. 300e-6)",
      numArg("--width", (v) => v > 0, "a positive number of seconds"),
    )
    .option("--count <n>", "pulses in the train", intArg("--count", 1), 1)
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  xbar pulse --row 0 --col 0 --amplitude 3.2 --width 300e-6 --count 10\n  xbar pulse --row 0 --col 0 --amplitude -2.8 --width 300e-6",
    )
    .action(async (o) =>
      withBoard(o.port, async (b) => {
        const r = await firstValueFrom(
          b.pulse({
            row: o.row,
            col: o.col,
            amplitude: o.amplitude,
            width: o.width,
            count: o.count,
            readAfter: true,
          }),
        );
        if (o.json) return out(JSON.stringify(r));
        out(
          `applied ${r.applied} pulse(s) of ${o.amplitude} V, ${eng(o.width, "s")} to r=${o.row} c=${o.col}: G = ${eng(r.conductance!, "S")}`,
        );
      }),
    );

  program
    .command("program")
    .description("program devices to target conductances with verify (read after every round of pulses)")
    .addOption(portOption())
    .requiredOption("--targets <file.csv>", "CSV with header row,col,target (target conductance in S)")
    .option(
      "--tolerance <x>",
      "relative tolerance",
      numArg("--tolerance", (v) => v > 0 && v < 1, "in (0, 1)"),
      0.05,
    )
    .option("--max-pulses <n>", "pulse budget per device", intArg("--max-pulses", 1), 1000)
    .addOption(pulseOptions.set())
    .addOption(pulseOptions.reset())
    .addOption(pulseOptions.width())
    .option("--json", "print JSON with every device's outcome")
    .addHelpText(
      "after",
      "\nThe targets file:\n  row,col,target\n  0,0,2.5e-8\n  0,1,1e-8\n\nExamples:\n  xbar program --targets pattern.csv\n  xbar program --port /dev/ttyUSB0 --targets pattern.csv --tolerance 0.02 --json\n\nExit status 3 when some devices did not converge (they are listed: stuck, or out of pulse budget).",
    )
    .action(async (o) => {
      const targets = readTargets(o.targets);
      const code = await withBoard(o.port, async (b) => {
        const bar = progressBar(targets.length, "program");
        const res = await lastValueFrom(
          programVerify(b, targets, {
            tolerance: o.tolerance,
            maxPulses: o.maxPulses,
            setAmplitude: o.setAmplitude,
            resetAmplitude: o.resetAmplitude,
            width: o.width,
          }).pipe(
            tap((p) =>
              bar.update(p.converged + p.stuck + p.capped, {
                status: `round ${p.round}, ${p.pulses} pulses`,
              }),
            ),
          ),
        );
        bar.stop();
        const bad = res.devices!.filter((d) => d.status !== "converged");
        if (o.json) out(JSON.stringify(res));
        else {
          out(
            `programmed ${res.converged}/${targets.length} devices within ${o.tolerance * 100}% in ${res.round} rounds, ${res.pulses} pulses`,
          );
          for (const d of bad) {
            out(
              `  r=${d.row} c=${d.col}: ${d.status === "pending" ? "not converged" : d.status}, G = ${eng(d.conductance, "S")}, target ${eng(d.target, "S")}, ${d.pulses} pulses`,
            );
          }
        }
        return bad.length ? EXIT.NOT_CONVERGED : EXIT.OK;
      });
      process.exitCode = code;
    });

  program
    .command("characterize")
    .alias("characterise")
    .description("pulse response of one device: N potentiating then N depressing pulses, a read after each")
    .addOption(portOption())
    .requiredOption("--row <r>", "row", intArg("--row"))
    .requiredOption("--col <c>", "column", intArg("--col"))
    .requiredOption("--pulses <n>", "pulses per phase", intArg("--pulses", 1, 100000))
    .addOption(pulseOptions.set())
    .addOption(pulseOptions.reset())
    .addOption(pulseOptions.width())
    .option("--out <file.csv>", "write the curve to a CSV file (else to stdout)")
    .addHelpText(
      "after",
      "\nCSV columns: phase,index,pulse,amplitude_V,width_s,conductance_S\n\nExample:\n  xbar characterize --row 0 --col 0 --pulses 100 --out curve.csv",
    )
    .action(async (o) => {
      // Refuse an unwritable --out before a single pulse is applied.
      if (o.out) checkWritable(o.out);
      await withBoard(o.port, async (b) => {
        const bar = progressBar(2 * o.pulses + 1, "characterize");
        const pts = await lastValueFrom(
          characterize(b, {
            row: o.row,
            col: o.col,
            pulses: o.pulses,
            setAmplitude: o.setAmplitude,
            resetAmplitude: o.resetAmplitude,
            width: o.width,
          }).pipe(
            tap((p) => bar.update(p.pulse + 1, { status: `${p.phase} ${eng(p.conductance, "S")}` })),
            toArray(),
          ),
        );
        bar.stop();
        const csv = stringify(
          pts.map((p) => [p.phase, p.index, p.pulse, p.amplitude, p.width, p.conductance]),
          { header: true, columns: ["phase", "index", "pulse", "amplitude_V", "width_s", "conductance_S"] },
        );
        if (!o.out) return outRaw(csv);
        writeFileSync(o.out, csv);
        const s = stats(pts.map((p) => p.conductance));
        out(
          `wrote ${pts.length} points to ${o.out}: G from ${eng(s.min, "S")} to ${eng(s.max, "S")} over ${2 * o.pulses} pulses`,
        );
      });
    });

  addTrainCommand(program, out);
  addRunCommands(program, out);
  addRetrainCommand(program, out);

  program
    .command("ports")
    .description("list serial ports")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  xbar ports\n  xbar ports --json")
    .action(async (o) => {
      const { SerialPort } = await import("serialport");
      let ports: Awaited<ReturnType<typeof SerialPort.list>>;
      try {
        ports = await SerialPort.list();
      } catch (e) {
        throw new XbarError(
          604,
          `this system cannot enumerate serial ports (${(e as Error).message}); give the device path directly, e.g. --port /dev/ttyUSB0`,
        );
      }
      if (o.json) return out(JSON.stringify(ports));
      if (ports.length === 0) return out("no serial ports found");
      for (const p of ports)
        out(
          `${p.path}\t${[p.manufacturer, p.serialNumber, p.vendorId && `${p.vendorId}:${p.productId}`].filter(Boolean).join(" ")}`,
        );
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (`xbar read --all --csv | head -1`) is not an error of ours: stop quietly.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.OK;
      // "commander.help" with exit code 1: the help was shown because no command was given.
      if (e.code === "commander.help") return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return EXIT.USAGE;
    }
    const msg = redactSecrets(e instanceof Error ? e.message : String(e));
    process.stderr.write(`xbar: ${msg}\n`);
    if (process.env.XBAR_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return EXIT.ERROR;
  }
}
