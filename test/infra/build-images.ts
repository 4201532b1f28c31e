/**
 * Builds the busybox test images on the default Docker daemon (skipping those
 * already present). CI runs it once before the tests so no test pays for it:
 *   node --import tsx test/infra/build-images.ts [--force]
 */
import { buildTestImages } from "./docker.ts";

const results = await buildTestImages(undefined, { force: process.argv.includes("--force") });
for (const { image, action, ms } of results) {
  console.log(`${image}: ${action === "built" ? `built in ${ms} ms` : "already present"}`);
}
