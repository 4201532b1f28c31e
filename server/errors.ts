/**
 * The one error type services throw. Routers and socket handlers translate it
 * to a user-facing message; anything else is treated as an internal error and
 * its details are logged, not shown.
 */
export type AppErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PRECONDITION_FAILED"
  | "HOST_OFFLINE"
  | "DOCKER_ERROR"
  | "TIMEOUT"
  /** The agent answered with something the contract does not allow: its fault, not the caller's (502). */
  | "AGENT_ERROR"
  | "INTERNAL";

export class AppError extends Error {
  readonly code: AppErrorCode;

  constructor(code: AppErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AppError";
    this.code = code;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
