/**
 * A snapshot as the frames that carry it: begin (host info and counts), parts
 * of at most about SNAPSHOT_PART_BYTES of JSON each, end. No frame grows with
 * the size of the host, so the server can keep its frame limit small.
 */
import { randomUUID } from "node:crypto";
import { AgentEvent, SNAPSHOT_PART_BYTES, type TSnapshot, type TSnapshotBegin, type TSnapshotPart } from "../protocol.ts";

type Frame =
  | [typeof AgentEvent.snapshotBegin, TSnapshotBegin]
  | [typeof AgentEvent.snapshotPart, TSnapshotPart]
  | [typeof AgentEvent.snapshotEnd, { snapshotId: string }];

const LISTS = ["containers", "images", "volumes", "networks"] as const;

export function snapshotFrames(snapshot: TSnapshot, partBytes = SNAPSHOT_PART_BYTES): Frame[] {
  const snapshotId = randomUUID();
  const frames: Frame[] = [
    [
      AgentEvent.snapshotBegin,
      {
        snapshotId,
        host: snapshot.host,
        takenAt: snapshot.takenAt,
        counts: {
          containers: snapshot.containers.length,
          images: snapshot.images.length,
          volumes: snapshot.volumes.length,
          networks: snapshot.networks.length,
        },
      },
    ],
  ];
  let part: TSnapshotPart = { snapshotId, containers: [], images: [], volumes: [], networks: [] };
  let bytes = 0;
  for (const list of LISTS) {
    for (const record of snapshot[list]) {
      const size = JSON.stringify(record).length;
      if (bytes > 0 && bytes + size > partBytes) {
        frames.push([AgentEvent.snapshotPart, part]);
        part = { snapshotId, containers: [], images: [], volumes: [], networks: [] };
        bytes = 0;
      }
      (part[list] as unknown[]).push(record);
      bytes += size;
    }
  }
  if (bytes > 0) frames.push([AgentEvent.snapshotPart, part]);
  frames.push([AgentEvent.snapshotEnd, { snapshotId }]);
  return frames;
}
