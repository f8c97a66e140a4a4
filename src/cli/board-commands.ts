/** `xbar demo|idn|stat|read|pulse|ports|reset`: a board's identity, counters, reads and pulses. */

import { existsSync, rmSync } from "node:fs";
import type { Command } from "commander";
import { listSerialPorts } from "../../drivers/list-ports.ts";
import { firstValueFrom } from "../../drivers/rx.ts";
import { ErrorCode } from "../../firmware-protocol/constants.ts";
import { XbarError } from "../../firmware-protocol/errors.ts";
import type { ConductanceMap } from "../board/board.ts";
import { DEFAULT_URL, defaultBoardStateFile } from "../board/default-url.ts";
import { out, outRaw, portOption, withBoard } from "./common.ts";
import { eng, shadeMap, stats } from "./format.ts";
import { defaultPort, intArg, numArg } from "./options.ts";

async function mapCsv(m: ConductanceMap): Promise<string> {
  const { stringify } = await import("csv-stringify/sync");
  const rows: Array<[number, number, number]> = [];
  for (let r = 0; r < m.rows; r++)
    for (let c = 0; c < m.cols; c++) rows.push([m.r0 + r, m.c0 + c, m.data[r * m.cols + c]!]);
  return stringify(rows, { header: true, columns: ["row", "col", "conductance_S"] });
}

export function addBoardCommands(program: Command): void {
  addResetCommand(program);
  program
    .command("demo")
    .description(
      "identify the board, characterise a few devices, program a pattern with verify, read it back",
    )
    .addOption(portOption())
    .addHelpText("after", "\nExamples:\n  xbar demo\n  xbar demo --port socket://127.0.0.1:5025")
    .action(async (o) => (await import("./demo.ts")).runDemo(o.port ?? defaultPort(), out));

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
        if (c.link) out(`link: ${c.link.sent} bytes sent to the board, ${c.link.received} received`);
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
      if (single === Boolean(o.all))
        throw new XbarError(ErrorCode.BAD_INPUT, "give either --row R --col C or --all");
      if (single && (o.row === undefined || o.col === undefined))
        throw new XbarError(ErrorCode.BAD_INPUT, "give both --row and --col");
      if (o.json && o.csv) throw new XbarError(ErrorCode.BAD_INPUT, "give at most one of --json and --csv");
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
        if (o.csv) return outRaw(await mapCsv(m));
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
    .command("ports")
    .description("list serial ports")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  xbar ports\n  xbar ports --json")
    .action(async (o) => {
      const ports = await listSerialPorts();
      if (o.json) return out(JSON.stringify(ports));
      if (ports.length === 0) return out("no serial ports found");
      for (const p of ports)
        out(
          `${p.path}\t${[p.manufacturer, p.serialNumber, p.vendorId && `${p.vendorId}:${p.productId}`].filter(Boolean).join(" ")}`,
        );
    });
}

/** Registers `xbar reset`: forget the default board's devices (its state file). */
export function addResetCommand(program: Command): void {
  program
    .command("reset")
    .description("reset the default board (used without --port): delete the file that keeps its devices")
    .addHelpText(
      "after",
      `\nThe default board is an emulated ${DEFAULT_URL.replace("emu://?", "")} array whose devices are kept in\n${defaultBoardStateFile()}\n(set XBAR_STATE_DIR to keep it elsewhere). A real board is reset by its own means.\n\nExample:\n  xbar pulse --row 0 --col 0 --amplitude 3.2 --width 300e-6 --count 10 && xbar read --row 0 --col 0 && xbar reset`,
    )
    .action(() => {
      const file = defaultBoardStateFile();
      if (!existsSync(file)) return out(`the default board is already fresh (no ${file})`);
      rmSync(file);
      out(`the default board is fresh again (deleted ${file})`);
    });
}
