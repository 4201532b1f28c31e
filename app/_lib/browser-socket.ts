"use client";

/**
 * The page's one socket on the /browser namespace, shared by every log view
 * (and, later, terminals) of the tab. It authenticates with the session cookie
 * at the handshake (same origin: no token ever goes in a URL). When the server
 * says the session ended, the shell re-checks who is signed in.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { io, type Socket } from "socket.io-client";
import { BROWSER_NAMESPACE, ServerEvent, type TAck } from "../../server/gateway/browser-protocol";
import { useTRPC } from "./trpc";

let shared: Socket | null = null;
let sessionEndedListeners = new Set<() => void>();

export function browserSocket(): Socket {
  if (!shared) {
    shared = io(BROWSER_NAMESPACE, { transports: ["websocket"], withCredentials: true });
    shared.on(ServerEvent.sessionEnded, () => {
      for (const listener of sessionEndedListeners) listener();
    });
  } else if (!shared.active) {
    // The server closed it (e.g. signed out elsewhere): a new handshake carries the current cookie.
    shared.connect();
  }
  return shared;
}

/** Emits a client event and resolves the server's answer (a refusal is an answer, not a throw). */
export async function request<T extends Record<string, unknown>>(event: string, payload: unknown, timeoutMs = 20_000): Promise<TAck<T>> {
  try {
    return (await browserSocket().timeout(timeoutMs).emitWithAck(event, payload)) as TAck<T>;
  } catch {
    return { ok: false, code: "UNAVAILABLE", message: "The server did not answer in time" };
  }
}

/** Sends a signed-out tab back through the shell's session check (which leads to the sign-in page). */
export function useSessionEndedRedirect() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  useEffect(() => {
    const listener = () => void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
    sessionEndedListeners.add(listener);
    return () => {
      sessionEndedListeners.delete(listener);
    };
  }, [queryClient, trpc]);
}

/** For sign-out: the next page load opens a fresh socket with the new cookie. */
export function closeBrowserSocket() {
  shared?.disconnect();
  shared = null;
  sessionEndedListeners = new Set();
}
