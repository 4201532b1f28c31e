import type { NextConfig } from "next";

/**
 * Next only renders the browser UI: pages are client components that talk to
 * tRPC and better-auth over HTTP, served by the one process in server/main.ts.
 * Nothing here may pull server code (Prisma, dockerode) into a bundle.
 */
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  typedRoutes: false,
};

export default nextConfig;
