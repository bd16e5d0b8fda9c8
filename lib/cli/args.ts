// Option parsing for every subcommand, from one table of options each, the way bwrap, unshare
// and systemd-run read theirs: `--name VALUE` or `--name=VALUE`, `-x VALUE` or `-xVALUE`, `--`
// ends the options. With `stopAtCommand` (run) the first argument that is not an option ends
// them too, so `nsgroups run ls -l /` hands `-l` to ls. Anything else that starts with '-' is
// an unknown option: a usage error (exit 2), never ignored.

export interface OptionSpec {
  /** the long name, without '--' */
  long: string;
  /** a one-letter alias, without '-' */
  short?: string;
  /** the value's placeholder ('SIZE'); absent: a flag that takes no value */
  value?: string;
  /** one line (or more, joined by \n) for --help */
  help: string;
}

/** A mistake on the command line: printed as one line and a pointer to --help; exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedOption {
  spec: OptionSpec;
  /** the value, or null for a flag */
  value: string | null;
  /** how the user wrote it, for messages: "--bind /a:/b" */
  text: string;
}

export interface ParsedArgs {
  /** options in the order given */
  options: ParsedOption[];
  /** the arguments that are not options (for run: the command and its arguments) */
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], stopAtCommand: boolean): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (stopAtCommand) {
        positionals.push(...argv.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | null = null;
    let flag: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      spec = byLong.get(name);
      if (eq >= 0) inline = arg.slice(eq + 1);
      flag = `--${name}`;
    } else {
      spec = byShort.get(arg[1]);
      if (arg.length > 2) inline = arg.slice(2);
      flag = arg.slice(0, 2);
      // a flag bundled with more letters (-Tx) is not supported: say so rather than guess
      if (spec && !spec.value && inline !== null) throw new UsageError(`unknown option '${arg}'`);
    }
    if (!spec) throw new UsageError(`unknown option '${flag}'`);
    if (!spec.value) {
      if (inline !== null) throw new UsageError(`option '${flag}' takes no value`);
      options.push({ spec, value: null, text: flag });
      continue;
    }
    let value = inline;
    if (value === null) {
      if (i + 1 >= argv.length) throw new UsageError(`option '${flag}' needs a value (${spec.value})`);
      value = argv[++i];
    }
    options.push({ spec, value, text: `${flag} ${clip(value)}` });
  }
  return { options, positionals };
}

/** The options part of a --help text, aligned: "  -o, --output LIST   text". */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const left = specs.map((s) => `  ${s.short ? `-${s.short}, ` : '    '}--${s.long}${s.value ? ` ${s.value}` : ''}`);
  const width = Math.min(28, Math.max(...left.map((l) => l.length)) + 2);
  return specs
    .map((s, i) => {
      const [first, ...more] = s.help.split('\n');
      const head = left[i].length + 1 > width ? `${left[i]}\n${' '.repeat(width)}${first}` : `${left[i].padEnd(width)}${first}`;
      return [head, ...more.map((m) => `${' '.repeat(width)}${m}`)].join('\n');
    })
    .join('\n');
}

/** Shortens a user's value for a message. */
export function clip(value: string, max = 40): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}
