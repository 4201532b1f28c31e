/**
 * What services need from the live agent connections. The socket gateway
 * implements it; services depend only on this interface, so requests flow one
 * way: service → agent link → agent.
 */
import type { OperationParams, OperationResult, OperationType } from "../../agent/protocol.ts";

export interface AgentLink {
  request<T extends OperationType>(
    hostId: string,
    type: T,
    params: OperationParams<T>,
    options?: { timeoutMs?: number },
  ): Promise<OperationResult<T>>;
  isConnected(hostId: string): boolean;
  disconnect(hostId: string, reason: string): void;
}
