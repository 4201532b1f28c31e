"use client";

import { createContext, useContext } from "react";
import type { RouterOutputs } from "./trpc";

export type SessionUser = RouterOutputs["auth"]["me"];

export const SessionContext = createContext<SessionUser | null>(null);

/** The signed-in user; only usable below the console shell, which guarantees one. */
export function useSessionUser(): SessionUser {
  const user = useContext(SessionContext);
  if (!user) throw new Error("useSessionUser must be used inside the signed-in shell");
  return user;
}
