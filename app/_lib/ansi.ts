/**
 * ANSI colours of log lines as HTML, safely: ansi_up escapes every character
 * of the text (`& < > " '`) and emits only its own `<span style="color:…">`
 * around it, so a container cannot inject markup into the page. Hyperlinks
 * (OSC 8) are turned off: a log line is untrusted and gets no link.
 *
 * Each line is converted with a fresh converter: the view is virtualized and
 * paints lines in any order, so no colour state may leak from one line to the next.
 */
import { AnsiUp } from "ansi_up";

/** Whether the text carries an escape sequence worth converting (most lines do not: they stay plain React text). */
export function hasAnsi(text: string): boolean {
  return text.includes("\u001b");
}

export function ansiToSafeHtml(text: string): string {
  const converter = new AnsiUp();
  converter.escape_html = true; // the default, stated: the safety of this module rests on it
  converter.url_allowlist = {};
  return converter.ansi_to_html(text);
}

/** The text without its escape sequences (for searching and copying). */
export function stripAnsi(text: string): string {
  // CSI sequences (colours, cursor) and OSC sequences (titles, links) ended by BEL or ST.
  return text.replace(/\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g, "");
}
