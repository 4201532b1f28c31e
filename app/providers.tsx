"use client";

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { useState, type ReactNode } from "react";
import superjson from "superjson";
import type { AppRouter } from "../server/routers/_app.ts";
import { TRPCProvider, trpcErrorCode } from "./_lib/trpc";

/** Client errors (bad input, no session, forbidden...) will not change on retry. */
const NO_RETRY_CODES = new Set(["BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "PRECONDITION_FAILED"]);

function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Freshness comes from the live subscription, not from timers or focus refetches.
        staleTime: 30_000,
        refetchOnWindowFocus: false,
        retry: (failureCount, error) => !NO_RETRY_CODES.has(trpcErrorCode(error) ?? "") && failureCount < 2,
      },
      mutations: { retry: false },
    },
  });
}

function makeTrpcClient() {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({ url: "/api/trpc", transformer: superjson }),
        false: httpBatchLink({ url: "/api/trpc", transformer: superjson, maxItems: 20 /* the server's MAX_TRPC_BATCH */ }),
      }),
    ],
  });
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(makeTrpcClient);
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
