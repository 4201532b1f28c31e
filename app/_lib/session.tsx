"use client";

import { createContext, useContext } from "react";
import type { RouterOutputs } from "./trpc";

/** `auth.me` of a signed-in caller (it answers null to nobody). */
export type SessionUser = NonNullable<RouterOutputs["auth"]["me"]>;

export const SessionContext = createContext<SessionUser | null>(null);

/** The signed-in user; only usable below the console shell, which guarantees one. */
export function useSessionUser(): SessionUser {
  const user = useContext(SessionContext);
  if (!user) throw new Error("useSessionUser must be used inside the signed-in shell");
  return user;
}
