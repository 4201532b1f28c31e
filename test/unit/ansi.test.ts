/**
 * Log lines are untrusted: their ANSI colours become HTML, and nothing else may.
 * Expected strings are written out by hand (not produced by the code under test).
 */
import { describe, expect, it } from "vitest";
import { ansiToSafeHtml, hasAnsi, stripAnsi } from "../../app/_lib/ansi.ts";

describe("ANSI colours in log lines", () => {
  it("escapes markup in the text, coloured or not", () => {
    expect(ansiToSafeHtml(`<img src=x onerror="alert(1)">&'`)).toBe("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#x27;");
    const coloured = ansiToSafeHtml("\u001b[31m<script>alert(1)</script>\u001b[0m");
    expect(coloured).not.toContain("<script>");
    expect(coloured).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("turns colour codes into styled spans", () => {
    expect(ansiToSafeHtml("\u001b[31mred\u001b[0m plain")).toBe('<span style="color:rgb(187,0,0)">red</span> plain');
  });

  it("gives no link for an OSC 8 hyperlink, not even a javascript: one", () => {
    const html = ansiToSafeHtml("\u001b]8;;javascript:alert(1)\u001b\\click\u001b]8;;\u001b\\ and \u001b]8;;https://example.org\u001b\\site\u001b]8;;\u001b\\");
    expect(html).not.toContain("<a");
    expect(html).not.toContain("javascript:");
  });

  it("does not carry colour from one line to the next", () => {
    ansiToSafeHtml("\u001b[32mgreen without reset");
    expect(ansiToSafeHtml("next line")).toBe("next line");
  });

  it("knows plain lines and strips sequences", () => {
    expect(hasAnsi("plain")).toBe(false);
    expect(hasAnsi("\u001b[1mbold")).toBe(true);
    expect(stripAnsi("\u001b[1;31mERROR\u001b[0m disk \u001b]0;title\u0007full")).toBe("ERROR disk full");
  });
});
