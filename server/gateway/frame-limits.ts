/**
 * Size limits on everything that arrives over socket.io, enforced before a
 * frame is parsed:
 *
 * - engine-wide (`maxHttpBufferSize`, {@link MAX_FRAME_BYTES}): the largest
 *   frame anyone may send; the websocket layer refuses a bigger one from its
 *   header, without reading it;
 * - before authentication, and for pages at any time,
 *   {@link SMALL_FRAME_BYTES}: a bigger packet is turned into a parse error
 *   (engine.io closes the connection) before socket.io decodes it. Only a
 *   connection carrying an authenticated agent may send more (snapshot chunks,
 *   log batches);
 * - at most {@link MAX_PENDING_AGENTS} agent sockets waiting to authenticate,
 *   and a connection that joins no namespace is closed after
 *   {@link CONNECT_TIMEOUT_MS}.
 */
import type { Server } from "socket.io";

/** Agent frames (a snapshot chunk is at most 512 KiB, a log batch far less) fit with room to spare. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Authentication frames, browser events and acks are tiny. */
export const SMALL_FRAME_BYTES = 64 * 1024;
export const MAX_PENDING_AGENTS = 128;
export const CONNECT_TIMEOUT_MS = 10_000;

/** The socket.io server options these limits need (the rest stays with the caller). */
export const frameLimitOptions = { maxHttpBufferSize: MAX_FRAME_BYTES, connectTimeout: CONNECT_TIMEOUT_MS } as const;

type EnginePacket = { type: string; data?: unknown };
type EngineConnection = { on(event: "packet", listener: (packet: EnginePacket) => void): void };

function packetBytes(data: unknown): number {
  if (typeof data === "string") {
    // Characters bound bytes from below (and from above by 3×): only count exactly when it matters.
    return data.length * 3 <= SMALL_FRAME_BYTES ? data.length : Buffer.byteLength(data, "utf8");
  }
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/**
 * Installs the limits on `io`. `isTrustedConnection(conn)` says whether an
 * engine connection carries an authenticated agent; `isPendingAgent(socket)`
 * whether an /agent socket has not authenticated yet.
 */
export function limitFrames(
  io: Server,
  opts: {
    agentNamespace: string;
    isTrustedConnection: (conn: unknown) => boolean;
    isPendingAgent: (socket: { data: unknown }) => boolean;
  },
) {
  io.engine.on("connection", (conn: EngineConnection) => {
    // "packet" fires before engine.io hands the data to socket.io's decoder.
    conn.on("packet", (packet) => {
      if (packet.type !== "message" || packetBytes(packet.data) <= SMALL_FRAME_BYTES) return;
      if (opts.isTrustedConnection(conn)) return;
      // Marked as a parse error: engine.io closes the connection and the payload is never decoded.
      packet.type = "error";
      packet.data = undefined;
    });
  });

  const agents = io.of(opts.agentNamespace);
  agents.use((_socket, next) => {
    let pending = 0;
    for (const socket of agents.sockets.values()) if (opts.isPendingAgent(socket)) pending++;
    if (pending >= MAX_PENDING_AGENTS) return next(new Error("Too many agents are authenticating; retry later"));
    next();
  });
}
