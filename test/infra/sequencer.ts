/**
 * Test file order for `vitest run`: the longest files start first, so the
 * two workers of a project finish together instead of one long file starting
 * last and running alone (longest-processing-time-first scheduling).
 *
 * Vitest's own order uses the durations it cached from the last run and, with
 * no cache (CI starts from a fresh clone), the file size, which put the
 * 1,000,000-line log search among the last files to start. So the expected
 * durations below are checked in: rough seconds per file on the 2-core CI
 * machine (the known CI figures, the rest from a run on the shared machine,
 * halved; fuzz, docker-run-oracle and registries scaled from their CI figures by the
 * share of time their speed-ups removed on the shared machine). They only order the files; nothing is timed or asserted with them,
 * and a stale figure costs only a less even finish. A file missing from the table (a new one) is placed by
 * vitest's cached duration if it has one, else it runs after the listed ones,
 * larger files first.
 */
import path from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const EXPECTED_SECONDS: Record<string, number> = {
  "integration:test/integration/inventory-churn.test.ts": 230,
  "integration:test/integration/log-search.test.ts": 200,
  "integration:test/integration/fuzz.test.ts": 75,
  "integration:test/integration/docker-run-oracle.test.ts": 95,
  "integration:test/integration/authorization.test.ts": 90,
  "integration:test/integration/audit-hardening.test.ts": 90,
  "integration:test/integration/setup.test.ts": 65,
  "integration:test/integration/image-reference-oracle.test.ts": 60,
  "integration:test/integration/agent-trust.test.ts": 55,
  "integration:test/integration/lifecycle.test.ts": 50,
  "integration:test/integration/agent-link.test.ts": 45,
  "integration:test/integration/image-push.test.ts": 35,
  "integration:test/integration/log-bounds.test.ts": 32,
  "integration:test/integration/container-create.test.ts": 30,
  "integration:test/integration/replicas.test.ts": 28,
  "integration:test/integration/infra.test.ts": 26,
  "integration:test/integration/audit.test.ts": 25,
  "integration:test/integration/registry-infra.test.ts": 25,
  "integration:test/integration/image-build.test.ts": 23,
  "integration:test/integration/shutdown.test.ts": 20,
  "integration:test/integration/sessions.test.ts": 19,
  "integration:test/integration/container-page.test.ts": 18,
  "integration:test/integration/image-pull.test.ts": 16,
  "integration:test/integration/log-sharing.test.ts": 16,
  "integration:test/integration/terminals.test.ts": 15,
  "e2e:test/e2e/registries.test.ts": 185,
  "e2e:test/e2e/container-page.test.ts": 110,
  "e2e:test/e2e/ui.test.ts": 100,
  "e2e:test/e2e/access.test.ts": 70,
  "e2e:test/e2e/containers.test.ts": 35,
  "e2e:test/e2e/fleet.test.ts": 25,
  "e2e:test/e2e/terminal.test.ts": 55,
  "e2e:test/e2e/images.test.ts": 15,
  "e2e:test/e2e/headers.test.ts": 5,
};

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // Vitest's order first (project groups, cached durations, sizes); a stable sort keeps it among equals.
    const base = await super.sort(files);
    const root = this.ctx.config.root;
    const weight = (spec: TestSpecification) => {
      const key = `${spec.project.name}:${path.relative(root, spec.moduleId)}`;
      return EXPECTED_SECONDS[key] ?? (this.ctx.cache.getFileTestResults(key)?.duration ?? 0) / 1000;
    };
    return base
      .map((spec, index) => ({ spec, index, weight: weight(spec) }))
      .sort((a, b) => {
        const groupA = a.spec.project.config.sequence.groupOrder;
        const groupB = b.spec.project.config.sequence.groupOrder;
        if (groupA !== groupB) return groupA - groupB;
        if (a.spec.project.name !== b.spec.project.name) return a.index - b.index;
        return b.weight - a.weight || a.index - b.index;
      })
      .map(({ spec }) => spec);
  }
}
