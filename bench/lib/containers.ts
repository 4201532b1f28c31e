/**
 * A fleet of idle containers on a dockerd for benchmarks, labelled so that
 * cleanup removes exactly what a benchmark made (and what a crashed earlier
 * run left behind).
 *
 * Both creation and removal are bounded and never overlap: dockerd 20.10 can
 * deadlock in libnetwork (every network operation, `docker info` included,
 * hangs until the daemon is restarted) when many endpoint deletions (`rm -f`
 * of running containers) race endpoint creations (`start`) on the same bridge.
 * An interrupted run therefore stops launching containers and waits for the
 * in-flight ones before it removes anything.
 */
import type Docker from "dockerode";
import { TEST_IMAGE } from "../../test/infra/docker.ts";

export type Label = { key: string; value: string };

/** Runs `fn` over `items` with at most `limit` calls in flight; stops taking new items once `signal` aborts. */
export async function mapLimited<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed && !signal?.aborted) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  // allSettled: on a failure, settle only once every call in flight has finished.
  const settled = await Promise.allSettled(workers);
  const rejection = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejection) throw rejection.reason;
  return results;
}

/**
 * Creates and starts `count` containers running `sleep 3600` from the test
 * image, with `--init` so a forced removal is immediate. dockerode is used
 * (not the CLI) so no process is spawned per container on two cores.
 * Resolves with the ids started (fewer than `count` if `signal` aborted).
 */
export async function createIdleContainers(opts: {
  docker: Docker;
  count: number;
  label: Label;
  namePrefix: string;
  concurrency?: number;
  signal?: AbortSignal;
}): Promise<string[]> {
  const indexes = Array.from({ length: opts.count }, (_, i) => i);
  const ids = await mapLimited(
    indexes,
    opts.concurrency ?? 8,
    async (i) => {
      const container = await opts.docker.createContainer({
        name: `${opts.namePrefix}-${String(i).padStart(4, "0")}`,
        Image: TEST_IMAGE,
        Cmd: ["sleep", "3600"],
        Labels: { [opts.label.key]: opts.label.value },
        HostConfig: { Init: true },
      });
      await container.start();
      return container.id;
    },
    opts.signal,
  );
  return ids.filter((id): id is string => typeof id === "string");
}

/**
 * Force-removes (with anonymous volumes) every container carrying the label,
 * a few at a time (see the module comment for why not all at once).
 */
export async function removeLabelledContainers(docker: Docker, label: Label, concurrency = 4): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${label.key}=${label.value}`] } });
  await mapLimited(found, concurrency, async (summary) => {
    try {
      await docker.getContainer(summary.Id).remove({ force: true, v: true });
    } catch (error) {
      // Already gone (removed by someone else, or --rm): nothing left to do.
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  });
  return found.length;
}
