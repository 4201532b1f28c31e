/**
 * agent/redaction.ts: the one definition of "looks like a secret", shared by
 * the agent (inspect data) and the server (audit parameters). Expected values
 * are written out by hand below, not derived from the module.
 */
import { describe, expect, it } from "vitest";
import {
  looksSecretKey,
  maskHistoryStep,
  MASK,
  maskSecretArgs,
  maskSecretsDeep,
  maskSecretsInCommandLine,
  maskSecretsInInspect,
  maskUrlCredentials,
} from "../../agent/redaction.ts";

describe("looksSecretKey", () => {
  const secret = [
    "password", "PASSWORD", "db_password", "POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "dbPassword", "passwd", "pwd",
    "API_TOKEN", "GITHUB_TOKEN", "accessToken", "access-token", "splunk-token", "token",
    "JWT_SECRET", "clientSecret", "client_secret", "secret",
    "AWS_SECRET_ACCESS_KEY", "API_KEY", "apiKey", "apikey", "SSH_KEY", "private-key", "PRIVATE_KEY",
    "authorization", "Authorization", "cookie", "SENTRY_DSN", "credentials", "code", "setupCode",
    "traefik.http.middlewares.auth.basicauth.users",
  ];
  const harmless = [
    "name", "email", "hostId", "containerId", "teamId", "image", "PATH", "HOME", "LANG", "TZ", "NODE_ENV",
    "max-size", "max-file", "tag", "mode", "com.docker.compose.project", "org.opencontainers.image.source",
    "KEYBOARD_LAYOUT", "MONKEY", "bypass", "compass", "passive", "author",
  ];
  it.each(secret)("%s is secret", (name) => expect(looksSecretKey(name)).toBe(true));
  it.each(harmless)("%s is not", (name) => expect(looksSecretKey(name)).toBe(false));
});

describe("maskUrlCredentials", () => {
  it.each([
    ["postgres://app:hunter2@db:5432/app", `postgres://app:${MASK}@db:5432/app`],
    ["see https://user:p%40ss@example.com/x and http://a:b@c", `see https://user:${MASK}@example.com/x and http://a:${MASK}@c`],
    ["https://example.com/path?a=b", "https://example.com/path?a=b"],
    ["https://token@github.com/org/repo", "https://token@github.com/org/repo"],
    ["user@example.com", "user@example.com"],
  ])("%s", (input, expected) => expect(maskUrlCredentials(input)).toBe(expected));
});

describe("maskSecretArgs", () => {
  it.each<[string[], string[]]>([
    [["--password=hunter2", "--user=bob"], [`--password=${MASK}`, "--user=bob"]],
    [["--token", "abc123", "--port", "80"], ["--token", MASK, "--port", "80"]],
    [["-p", "8080:80"], ["-p", "8080:80"]],
    [["--api-key=xyz", "-secret=s"], [`--api-key=${MASK}`, `-secret=${MASK}`]],
    [["env", "GITHUB_TOKEN=ghp_x", "PATH=/bin", "node", "app.js"], ["env", `GITHUB_TOKEN=${MASK}`, "PATH=/bin", "node", "app.js"]],
    [["DB_PASSWORD=pw", "APP_SECRET=s", "SIGNING_KEY=k"], [`DB_PASSWORD=${MASK}`, `APP_SECRET=${MASK}`, `SIGNING_KEY=${MASK}`]],
    [["--url=postgres://u:pw@db/x"], [`--url=postgres://u:${MASK}@db/x`]],
    [["postgres://u:pw@db/x"], [`postgres://u:${MASK}@db/x`]],
    [["--password", "--verbose"], ["--password", "--verbose"]],
    [["sh", "-c", "curl --token abc https://x && DB_PASSWORD=pw run"], ["sh", "-c", `curl --token ${MASK} https://x && DB_PASSWORD=${MASK} run`]],
    [["httpd", "-f", "-p", "80"], ["httpd", "-f", "-p", "80"]],
  ])("%j", (input, expected) => expect(maskSecretArgs(input)).toEqual(expected));

  it("keeps the spacing and quotes of a command line", () => {
    expect(maskSecretsInCommandLine(`run  --password "hunter2" --name 'web'`)).toBe(`run  --password "${MASK}" --name 'web'`);
    expect(maskSecretsInCommandLine(`"/entry.sh --secret=abc"`)).toBe(`"/entry.sh --secret=${MASK}"`);
  });
});

describe("maskSecretsInInspect", () => {
  const inspect = {
    Id: "abc",
    Path: "/app",
    Args: ["--db", "postgres://app:dbpw@db/app", "--token", "t0k"],
    Config: {
      Env: ["PATH=/usr/bin", "POSTGRES_PASSWORD=pgpw", "LANG=C"],
      Labels: { "com.example.api-token": "lbltok", "com.docker.compose.project": "web", "backup.target": "s3://key:s3secret@bucket" },
      Cmd: ["--password=cmdpw", "serve"],
      Entrypoint: "/entry.sh --secret entsecret",
      Healthcheck: { Test: ["CMD", "curl", "-H", "x", "--token", "hctok"] },
      Image: "busybox",
    },
    HostConfig: {
      LogConfig: { Type: "splunk", Config: { "splunk-token": "logtok", "splunk-url": "https://u:logpw@splunk:8088", "max-size": "10m" } },
      Binds: ["/data:/data"],
    },
  };

  it("masks every secret and keeps everything else", () => {
    const masked = maskSecretsInInspect(inspect);
    const text = JSON.stringify(masked);
    for (const secret of ["dbpw", "t0k", "pgpw", "lbltok", "s3secret", "cmdpw", "entsecret", "hctok", "logtok", "logpw"]) {
      expect(text).not.toContain(secret);
    }
    expect(masked).toEqual({
      Id: "abc",
      Path: "/app",
      Args: ["--db", `postgres://app:${MASK}@db/app`, "--token", MASK],
      Config: {
        Env: [`PATH=${MASK}`, `POSTGRES_PASSWORD=${MASK}`, `LANG=${MASK}`],
        Labels: { "com.example.api-token": MASK, "com.docker.compose.project": "web", "backup.target": `s3://key:${MASK}@bucket` },
        Cmd: [`--password=${MASK}`, "serve"],
        Entrypoint: `/entry.sh --secret ${MASK}`,
        Healthcheck: { Test: ["CMD", "curl", "-H", "x", "--token", MASK] },
        Image: "busybox",
      },
      HostConfig: {
        LogConfig: { Type: "splunk", Config: { "splunk-token": MASK, "splunk-url": `https://u:${MASK}@splunk:8088`, "max-size": "10m" } },
        Binds: ["/data:/data"],
      },
    });
  });

  it("does not change its input, and passes through what is not an inspect document", () => {
    const copy = JSON.parse(JSON.stringify(inspect)) as typeof inspect;
    maskSecretsInInspect(inspect);
    expect(inspect).toEqual(copy);
    expect(maskSecretsInInspect(null)).toBeNull();
    expect(maskSecretsInInspect({ Config: null })).toEqual({ Config: null });
  });
});

describe("maskSecretsDeep (audit parameters)", () => {
  it("masks keys, env lists, argument lists and URLs at any depth", () => {
    expect(
      maskSecretsDeep({
        email: "a@b.test",
        password: "pw1",
        nested: { apiKey: "k", list: [{ token: "t" }] },
        env: ["A=1", "B_SECRET=2"],
        cmd: ["--password", "pw2", "run"],
        url: "postgres://u:pw3@h/db",
        when: new Date("2026-01-02T03:04:05.000Z"),
        big: 12n,
      }),
    ).toEqual({
      email: "a@b.test",
      password: MASK,
      nested: { apiKey: MASK, list: [{ token: MASK }] },
      env: [`A=${MASK}`, `B_SECRET=${MASK}`],
      cmd: ["--password", MASK, "run"],
      url: `postgres://u:${MASK}@h/db`,
      when: "2026-01-02T03:04:05.000Z",
      big: "12",
    });
  });

  it("bounds depth, list length and string length", () => {
    let deep: unknown = "x";
    for (let i = 0; i < 12; i++) deep = { a: deep };
    expect(JSON.stringify(maskSecretsDeep(deep))).toContain("[truncated]");
    expect((maskSecretsDeep(Array.from({ length: 500 }, (_, i) => ({ i }))) as unknown[]).length).toBe(100);
    expect((maskSecretsDeep("y".repeat(5000)) as string).length).toBe(2001);
  });

  // Each of these took minutes to hours before the patterns were bounded (quadratic backtracking on a
  // megabyte: a single request held the server's event loop, found by the fuzz test). Not a timing
  // assertion: before the fix these do not finish within the test's timeout at all.
  it("stays linear on a megabyte of adversarial text", () => {
    const megabyte = 1 << 20;
    expect(maskUrlCredentials("a".repeat(megabyte))).toHaveLength(megabyte);
    expect(looksSecretKey("A".repeat(megabyte))).toBe(false);
    expect(looksSecretKey("x".repeat(megabyte) + "_TOKEN")).toBe(false); // judged on its first 256 characters
    expect(maskSecretsDeep({ ["k".repeat(megabyte)]: "a".repeat(megabyte) })).toEqual({ ["k".repeat(megabyte)]: "a".repeat(2000) + "…" });
    const spaced = maskSecretsInCommandLine("a ".repeat(megabyte / 2));
    expect(spaced.endsWith("…[cut]")).toBe(true);
    expect(maskUrlCredentials(`${"x".repeat(megabyte)} https://me:hunter2@example.test/`)).toContain(`https://me:${MASK}@example.test/`);
  }, 20_000);
});


describe("maskHistoryStep (an image's history, readable by everyone who sees the host)", () => {
  // CREATED BY lines as dockerd 20.10's classic builder and BuildKit record them.
  it.each([
    ["/bin/sh -c #(nop)  ENV DB_PASSWORD=hunter2-env", "/bin/sh -c #(nop)  ENV DB_PASSWORD=[redacted]"],
    ["/bin/sh -c #(nop)  ENV PATH=/usr/local/bin:/usr/bin MODE=prod", "/bin/sh -c #(nop)  ENV PATH=[redacted] MODE=[redacted]"],
    ["/bin/sh -c #(nop)  ENV LEGACY value with spaces", "/bin/sh -c #(nop)  ENV LEGACY [redacted]"],
    ["ENV API_KEY=abc123", "ENV API_KEY=[redacted]"],
    ["|1 NPM_TOKEN=npm-s3cret-token /bin/sh -c npm install", "|1 NPM_TOKEN=[redacted] /bin/sh -c npm install"],
    ["|2 VERSION=1.4 NPM_TOKEN=npm-s3cret /bin/sh -c make", "|2 VERSION=1.4 NPM_TOKEN=[redacted] /bin/sh -c make"],
    ["RUN |1 GITHUB_TOKEN=ghp_x /bin/sh -c git clone https://u:pw@example.com/r.git", "RUN |1 GITHUB_TOKEN=[redacted] /bin/sh -c git clone https://u:[redacted]@example.com/r.git"],
    ["/bin/sh -c #(nop) COPY file:0123abcd in /etc/app ", "/bin/sh -c #(nop) COPY file:0123abcd in /etc/app "],
    ["/bin/sh -c #(nop)  CMD [\"httpd\" \"-f\"]", "/bin/sh -c #(nop)  CMD [\"httpd\" \"-f\"]"],
  ])("%s", (line, masked) => {
    expect(maskHistoryStep(line)).toBe(masked);
  });
});
