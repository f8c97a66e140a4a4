/** `xbar program|characterize`: program-and-verify to targets, the pulse response of a device. */
import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { lastValueFrom, tap, toArray } from "rxjs";
import { characterize, DEFAULT_PULSE, programVerify } from "../pipelines/index.ts";
import { checkWritable, EXIT, out, outRaw, portOption, withBoard } from "./common.ts";
import { eng, stats } from "./format.ts";
import { interruptedError, listenForInterrupt, untilAborted } from "./interrupt.ts";
import { intArg, numArg } from "./options.ts";
import { progressBar } from "./progress.ts";

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

export function addProgramCommands(program: Command): void {
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
      const { readTargets } = await import("./targets-file.ts");
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
      const stop = listenForInterrupt("the characterisation");
      try {
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
              untilAborted(stop.signal),
              toArray(),
            ),
          );
          bar.stop();
          // Interrupted or not, what was measured is written.
          const { stringify } = await import("csv-stringify/sync");
          const csv = stringify(
            pts.map((p) => [p.phase, p.index, p.pulse, p.amplitude, p.width, p.conductance]),
            { header: true, columns: ["phase", "index", "pulse", "amplitude_V", "width_s", "conductance_S"] },
          );
          if (!o.out) outRaw(csv);
          else writeFileSync(o.out, csv);
          if (stop.signal.aborted)
            throw interruptedError(
              `characterisation stopped after ${pts.length} of ${2 * o.pulses + 1} points; those were written to ${o.out ?? "stdout"}`,
            );
          if (!o.out) return;
          const s = stats(pts.map((p) => p.conductance));
          out(
            `wrote ${pts.length} points to ${o.out}: G from ${eng(s.min, "S")} to ${eng(s.max, "S")} over ${2 * o.pulses} pulses`,
          );
        });
      } finally {
        stop.dispose();
      }
    });
}
