# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY openapi ./openapi
COPY src ./src
COPY jobs ./jobs
COPY scripts ./scripts
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY openapi ./openapi
COPY scripts/node-options scripts/serve.sh ./scripts/
USER node
EXPOSE 3000
# ROLE decides what runs: api, worker, or all (both in one process). scripts/serve.sh puts the service's
# Node flags first (README, "Node options"); a NODE_OPTIONS set on the container comes after them and wins.
CMD ["sh", "scripts/serve.sh"]
