/** How a command answers: one JSON document on stdout with --json, human lines otherwise. */
export interface Output {
  json: boolean;
  /** human progress/info line (stderr in --json mode so stdout stays one document) */
  info(line: string): void;
  result(doc: unknown, human: () => string): void;
}

export function output(json: boolean): Output {
  return {
    json,
    info: (line) => process.stderr.write(`${line}\n`),
    result: (doc, human) => process.stdout.write(json ? `${JSON.stringify(doc, null, 2)}\n` : `${human()}\n`),
  };
}

/** Runs a command body; any failure becomes one clear line on stderr and a non-zero exit. */
export async function run(body: () => Promise<number | void>): Promise<void> {
  try {
    const code = await body();
    process.exitCode = code ?? 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`doubletap: ${message.split('\n').join('\n  ')}\n`);
    process.exitCode = 1;
  }
}
