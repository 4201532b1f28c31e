/**
 * Minimal leveled logger. Structured enough to grep; never pass secrets here.
 */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
let threshold: Level = (process.env.BERTH_LOG_LEVEL as Level | undefined) ?? "info";

export function setLogLevel(level: Level) {
  threshold = level;
}

function emit(level: Level, scope: string, message: string, fields?: Record<string, unknown>) {
  if (ORDER[level] < ORDER[threshold]) return;
  const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}`;
  const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : "";
  (level === "error" || level === "warn" ? console.error : console.log)(line + extra);
}

export function createLogger(scope: string) {
  return {
    debug: (m: string, f?: Record<string, unknown>) => emit("debug", scope, m, f),
    info: (m: string, f?: Record<string, unknown>) => emit("info", scope, m, f),
    warn: (m: string, f?: Record<string, unknown>) => emit("warn", scope, m, f),
    error: (m: string, f?: Record<string, unknown>) => emit("error", scope, m, f),
  };
}
export type Logger = ReturnType<typeof createLogger>;
