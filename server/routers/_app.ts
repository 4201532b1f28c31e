import { router } from "../trpc.ts";
import { auditRouter } from "./audit.ts";
import { authRouter } from "./auth.ts";
import { containersRouter, imagesRouter } from "./containers.ts";
import { hostsRouter } from "./hosts.ts";
import { registriesRouter } from "./registries.ts";
import { rolesRouter, teamsRouter } from "./teams.ts";
import { terminalsRouter } from "./terminals.ts";
import { accountRouter, usersRouter } from "./users.ts";

export const appRouter = router({
  auth: authRouter,
  account: accountRouter,
  users: usersRouter,
  teams: teamsRouter,
  roles: rolesRouter,
  hosts: hostsRouter,
  containers: containersRouter,
  images: imagesRouter,
  audit: auditRouter,
  terminals: terminalsRouter,
  registries: registriesRouter,
});

export type AppRouter = typeof appRouter;
