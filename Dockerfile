# syntax=docker/dockerfile:1
# The API image (and any CPU-only use of the code): plain Node 20, no CUDA. The GPU worker has
# its own image, Dockerfile.gpu; both are built from the same source tree and lockfile.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

WORKDIR /app
COPY . .
# The services run TypeScript through tsx (`node --import tsx ...`), which the root manifest
# lists as a devDependency; install it at the locked manifest's version next to the runtime deps.
RUN npm ci --omit=dev \
 && npm install --no-save --omit=dev "tsx@$(node -p "require('./package.json').devDependencies.tsx")" \
 && npm cache clean --force

ENV NODE_ENV=production
# The `node` user (uid 1000) ships with the official Node image.
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
