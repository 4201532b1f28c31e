/**
 * Docker's streaming answers (events, pull/push progress, build output) are
 * JSON objects, one per line, cut anywhere by the socket. `jsonLines` returns
 * a feeder for those chunks that hands `take` each whole object; a line that is
 * not JSON is skipped, and a line that never ends is dropped past `maxLine`
 * characters instead of growing without bound.
 */
export function jsonLines<T>(take: (value: T) => void, maxLine = 1_000_000): (chunk: string | Buffer) => void {
  let buffered = "";
  return (chunk) => {
    buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      let value: T;
      try {
        value = JSON.parse(line) as T;
      } catch {
        continue; // not Docker's JSON: skip the line, keep the stream
      }
      take(value);
    }
    if (buffered.length > maxLine) buffered = "";
  };
}
