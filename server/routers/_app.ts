import { router } from "../trpc.ts";
import { authRouter } from "./auth.ts";
import { containersRouter, imagesRouter } from "./containers.ts";
import { hostsRouter } from "./hosts.ts";

export const appRouter = router({
  auth: authRouter,
  hosts: hostsRouter,
  containers: containersRouter,
  images: imagesRouter,
});

export type AppRouter = typeof appRouter;
