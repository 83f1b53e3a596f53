import { redactSecrets } from '@vigil/contracts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface LogSink {
  write(line: string): void;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  readonly format?: 'text' | 'json';
  readonly sink?: LogSink;
  readonly clock?: () => Date;
}

/**
 * One line per record on stderr (stdout is left to command output such as `vigil tail`). Every message and
 * field passes through redactSecrets, so a camera URL with credentials never reaches a log.
 */
export class Logger {
  private readonly level: LogLevel;
  private readonly format: 'text' | 'json';
  private readonly sink: LogSink;
  private readonly clock: () => Date;

  constructor(
    private readonly context: string,
    options: LoggerOptions = {},
  ) {
    this.level = options.level ?? 'info';
    this.format = options.format ?? 'text';
    this.sink = options.sink ?? { write: (line) => process.stderr.write(line) };
    this.clock = options.clock ?? (() => new Date());
  }

  child(context: string): Logger {
    return new Logger(context, {
      level: this.level,
      format: this.format,
      sink: this.sink,
      clock: this.clock,
    });
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const time = this.clock().toISOString();
    const clean: LogFields = {};
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) clean[k] = typeof v === 'string' ? redactSecrets(v) : v;
    }
    const message = redactSecrets(msg);
    if (this.format === 'json') {
      this.sink.write(JSON.stringify({ time, level, context: this.context, msg: message, ...clean }) + '\n');
      return;
    }
    const extras = Object.entries(clean)
      .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    this.sink.write(
      `${time} ${level.toUpperCase().padEnd(5)} [${this.context}] ${message}${extras ? ' ' + extras : ''}\n`,
    );
  }
}

/** Adapts Logger to Nest's LoggerService shape without importing Nest here. */
export function nestLoggerAdapter(logger: Logger) {
  const text = (m: unknown) =>
    m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m);
  const ctx = (params: unknown[]) =>
    typeof params[params.length - 1] === 'string' ? String(params.at(-1)) : 'nest';
  return {
    log: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).debug(text(m)),
    error: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).error(text(m)),
    warn: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).warn(text(m)),
    debug: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).debug(text(m)),
    verbose: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).debug(text(m)),
    fatal: (m: unknown, ...p: unknown[]) => logger.child(ctx(p)).error(text(m)),
  };
}
