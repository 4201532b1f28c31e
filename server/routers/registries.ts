import { z } from "zod";
import { isRepositoryPath, isTagOrDigest } from "../../agent/image-reference.ts";
import {
  browseManifest,
  browseRepositories,
  browseTags,
  createRegistry,
  getRegistry,
  listRegistries,
  removeRegistry,
  setRegistryTeam,
  testRegistry,
  updateRegistry,
  ZRegistryFields,
  ZRegistryName,
  ZRegistryPassword,
  ZRegistryUrl,
  ZRegistryUsername,
} from "../services/registries.ts";
import { authedProcedure, registryProcedure, router, teamProcedure } from "../trpc.ts";

const ZId = z.string().min(1).max(64);
const ZRegistryIdInput = z.object({ registryId: ZId });
const ZRegistryTeamInput = ZRegistryIdInput.extend({ teamId: ZId });
const ZRepository = z.string().max(255).refine(isRepositoryPath, "Not a repository name: lower-case path components such as team/app");
const ZPage = { last: z.string().max(255).optional(), limit: z.number().int().min(1).max(500).default(100) };

export const ZCreateRegistryInput = ZRegistryFields.extend({ teamId: ZId });
export const ZUpdateRegistryInput = ZRegistryIdInput.extend({
  name: ZRegistryName.optional(),
  url: ZRegistryUrl.optional(),
  username: ZRegistryUsername.nullish(),
  /** Omitted: keep the stored password; null: forget it. */
  password: ZRegistryPassword.nullish(),
});

/** Reaching a registry with stored credentials is recorded in the audit trail, queries included. */
const audited = { audit: true } as const;

export const registriesRouter = router({
  /** Registries shared with the caller's teams (every one for admins); never a password. */
  list: authedProcedure.query(({ ctx }) => listRegistries(ctx.db, ctx.principal)),

  byId: registryProcedure("image.pull").input(ZRegistryIdInput).query(({ ctx, input }) => getRegistry(ctx.db, ctx.principal, input.registryId)),

  create: teamProcedure("registry.manage")
    .input(ZCreateRegistryInput)
    .mutation(({ ctx, input: { teamId, ...fields } }) => createRegistry({ db: ctx.db, secrets: ctx.secrets, teamId, fields })),

  update: registryProcedure("registry.manage")
    .input(ZUpdateRegistryInput)
    .mutation(({ ctx, input: { registryId, ...fields } }) => updateRegistry({ db: ctx.db, secrets: ctx.secrets, registryId, fields })),

  remove: registryProcedure("registry.manage").input(ZRegistryIdInput).mutation(({ ctx, input }) => removeRegistry({ db: ctx.db, registryId: input.registryId })),

  /** Shares with one more team: registry.manage in that team (procedure) and on the registry (service). */
  share: teamProcedure("registry.manage")
    .input(ZRegistryTeamInput)
    .mutation(({ ctx, input }) => setRegistryTeam({ db: ctx.db, principal: ctx.principal, ...input, shared: true })),

  unshare: teamProcedure("registry.manage")
    .input(ZRegistryTeamInput)
    .mutation(({ ctx, input }) => setRegistryTeam({ db: ctx.db, principal: ctx.principal, ...input, shared: false })),

  /** Reaches /v2/ with the stored credentials: the address answers and the password is right. */
  test: registryProcedure("registry.manage").input(ZRegistryIdInput).mutation(({ ctx, input }) => testRegistry({ db: ctx.db, secrets: ctx.secrets, registryId: input.registryId })),

  repositories: registryProcedure("image.pull")
    .meta(audited)
    .input(ZRegistryIdInput.extend(ZPage))
    .query(({ ctx, input }) => browseRepositories({ db: ctx.db, secrets: ctx.secrets, ...input })),

  tags: registryProcedure("image.pull")
    .meta(audited)
    .input(ZRegistryIdInput.extend({ repository: ZRepository, ...ZPage }))
    .query(({ ctx, input }) => browseTags({ db: ctx.db, secrets: ctx.secrets, ...input })),

  manifest: registryProcedure("image.pull")
    .meta(audited)
    .input(ZRegistryIdInput.extend({ repository: ZRepository, reference: z.string().max(200).refine(isTagOrDigest, "Not a tag or a digest") }))
    .query(({ ctx, input }) => browseManifest({ db: ctx.db, secrets: ctx.secrets, ...input })),
});
