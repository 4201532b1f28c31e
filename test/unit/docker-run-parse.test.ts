/**
 * The `docker run` line parser on its own: shell splitting, pflag-style
 * flags, each value syntax, and the clear refusals. (Its agreement with the
 * real Docker CLI is test/integration/docker-run-oracle.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { envFromText, formFromSpec, specFromForm } from "../../app/_lib/docker-run/form.ts";
import { parseBytes, parseDockerRun, parseDuration, parseMount, parsePort, parseVolume, shellSplit } from "../../app/_lib/docker-run/parse.ts";
import { isBindAllowed } from "../../server/services/container-create.ts";

describe("shellSplit", () => {
  it("splits like sh for literal text", () => {
    expect(shellSplit(`a "b c" 'd "e"' f\\ g "h\\"i" ''`)).toEqual(["a", "b c", 'd "e"', "f g", 'h"i', ""]);
    expect(shellSplit("docker run \\\n  -d img")).toEqual(["docker", "run", "-d", "img"]);
    expect(shellSplit("x # a comment")).toEqual(["x"]);
  });
  it("refuses what only a shell could do", () => {
    expect(() => shellSplit("run -e A=$HOME img")).toThrow(/does not expand shell variables/);
    expect(() => shellSplit("run img | grep x")).toThrow(/one docker run command/);
    expect(() => shellSplit("run 'img")).toThrow(/not closed/);
  });
});

describe("values", () => {
  it("ports", () => {
    expect(parsePort("8080:80")).toEqual({ ip: "", hostPort: "8080", containerPort: "80", protocol: "tcp" });
    expect(parsePort("127.0.0.1::53/udp")).toEqual({ ip: "127.0.0.1", hostPort: "", containerPort: "53", protocol: "udp" });
    expect(parsePort("[::1]:8080:80")).toEqual({ ip: "::1", hostPort: "8080", containerPort: "80", protocol: "tcp" });
    expect(parsePort("9000-9002:7000-7002")).toMatchObject({ hostPort: "9000-9002", containerPort: "7000-7002" });
    expect(() => parsePort("80/http")).toThrow(/unknown protocol/);
  });
  it("volumes and mounts", () => {
    expect(parseVolume("/data")).toEqual({ target: "/data", readOnly: false, mode: [] });
    expect(parseVolume("vol:/data:ro,z")).toEqual({ source: "vol", target: "/data", readOnly: true, mode: ["z"] });
    expect(() => parseVolume("vol:data")).toThrow(/absolute/);
    expect(parseMount("type=bind,source=/a,target=/b,readonly")).toEqual({ type: "bind", source: "/a", target: "/b", readOnly: true });
    expect(parseMount("src=v,dst=/x,volume-nocopy")).toEqual({ type: "volume", source: "v", target: "/x", readOnly: false, volumeNoCopy: true });
    expect(() => parseMount("type=bind,source=/a")).toThrow(/target is required/);
  });
  it("sizes and durations (Docker's units)", () => {
    expect(parseBytes("64m", "-m")).toBe(67108864);
    expect(parseBytes("1.5g", "-m")).toBe(1610612736);
    expect(parseBytes("512", "-m")).toBe(512);
    expect(() => parseBytes("lots", "-m")).toThrow(/invalid size/);
    expect(parseDuration("1m30s", "x")).toBe(90_000);
    expect(parseDuration("500ms", "x")).toBe(500);
    expect(() => parseDuration("5 sec", "x")).toThrow(/invalid duration/);
  });
});

describe("parseDockerRun", () => {
  it("combined short flags, repeated flags, --flag=value and the command", () => {
    const spec = parseDockerRun(`docker run -itd --rm -e A=1 -e "B=two words" --env=C=3 -p8080:80 --restart on-failure:3 --memory 64m --cpus 0.5 busybox sh -c 'echo hi'`);
    expect(spec).toMatchObject({
      image: "busybox",
      cmd: ["sh", "-c", "echo hi"],
      interactive: true,
      tty: true,
      autoRemove: true,
      start: true,
      env: ["A=1", "B=two words", "C=3"],
      ports: [{ ip: "", hostPort: "8080", containerPort: "80", protocol: "tcp" }],
      restart: { name: "on-failure", maximumRetryCount: 3 },
      memoryBytes: 67108864,
      cpus: 0.5,
    });
  });
  it("healthcheck, network aliases, docker create means no start", () => {
    const spec = parseDockerRun(`docker create --network net --network-alias web --health-cmd "curl -f x" --health-interval 30s img`);
    expect(spec.start).toBe(false);
    expect(spec.networks).toEqual([{ name: "net", aliases: ["web"] }]);
    expect(spec.healthcheck).toEqual({ test: ["CMD-SHELL", "curl -f x"], intervalMs: 30_000 });
  });
  it("refuses clearly", () => {
    expect(() => parseDockerRun("docker run --env-file .env img")).toThrow(/--env-file reads a file on your machine/);
    expect(() => parseDockerRun("docker run --frobnicate img")).toThrow(/--frobnicate is not an option/);
    expect(() => parseDockerRun("docker run -d")).toThrow(/No image/);
    expect(() => parseDockerRun("docker run --no-healthcheck --health-cmd x img")).toThrow(/conflicts/);
    expect(() => parseDockerRun("docker run -p 70000:80 img")).toThrow(/65535/);
  });
});

describe("the form", () => {
  it("round-trips a parsed line through the form", () => {
    const spec = parseDockerRun(`docker run -d --name web -p 127.0.0.1:8080:80/udp -e "A=b c" -v data:/data:ro --mount type=tmpfs,target=/t -m 1g --restart always --init -l x=y img sh -c 'a b'`);
    const back = specFromForm(formFromSpec(spec));
    expect(back).toEqual({ ok: true, spec });
  });
  it("reads a pasted .env file", () => {
    expect(envFromText("# comment\nexport A=1\nB=\"two words\"\n\nC='x'")).toEqual(["A=1", "B=two words", "C=x"]);
  });
});

describe("allowed bind paths", () => {
  it("allows a path and what is under it, by segments", () => {
    expect(isBindAllowed("/srv/data", ["/srv/data"])).toBe(true);
    expect(isBindAllowed("/srv/data/sub", ["/srv/data/"])).toBe(true);
    expect(isBindAllowed("/srv/database", ["/srv/data"])).toBe(false);
    expect(isBindAllowed("/srv/data/../../etc", ["/srv/data"])).toBe(false);
    expect(isBindAllowed("/etc", [])).toBe(false);
  });
});
