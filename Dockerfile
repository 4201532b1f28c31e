# Berth images, built from this repository:
#   docker build --target server -t berth/server .
#   docker build --target agent  -t berth/agent  .

# ---------------------------------------------------------------- server
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
COPY server/db/migration-pool.ts ./server/db/migration-pool.ts
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS server
WORKDIR /app
ENV NODE_ENV=production NEXT_TELEMETRY_DISABLED=1 BERTH_DATA_DIR=/var/lib/berth BERTH_PORT=3000
COPY --from=build /app /app
RUN npm prune --omit=dev --no-audit --no-fund && mkdir -p /var/lib/berth && chown node:node /var/lib/berth
USER node
VOLUME /var/lib/berth
EXPOSE 3000
CMD ["node", "--import", "tsx", "server/main.ts"]

# ---------------------------------------------------------------- agent
# Only what the agent needs (dockerode, socket.io-client, zod, tsx), at the
# versions pinned in the root package.json.
FROM node:20-bookworm-slim AS agent
WORKDIR /app
COPY package.json ./root-package.json
RUN node -e 'const root = require("./root-package.json"); \
      const deps = Object.fromEntries(["dockerode", "socket.io-client", "zod", "tsx"].map((n) => [n, root.dependencies[n]])); \
      require("fs").writeFileSync("package.json", JSON.stringify({ name: "berth-agent", private: true, type: "module", dependencies: deps }));' \
  && rm root-package.json && npm install --omit=dev --no-audit --no-fund
COPY agent ./agent
ENV BERTH_AGENT_STATE_DIR=/var/lib/berth-agent
VOLUME /var/lib/berth-agent
# Runs as root: it needs the Docker socket, which is root-owned on most hosts.
CMD ["node", "--import", "tsx", "agent/main.ts"]
