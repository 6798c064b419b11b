# syntax=docker/dockerfile:1
# The API image (and any CPU-only use of the code): plain Node 20, no CUDA. The GPU worker has
# its own image, Dockerfile.gpu; both are built from the same source tree and lockfile.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

WORKDIR /app
COPY . .
# The services run TypeScript through tsx (`node --import tsx ...`), a runtime dependency of the
# root manifest, so the production install has it.
RUN npm ci --omit=dev \
 && npm cache clean --force

ENV NODE_ENV=production
# The `node` user (uid 1000) ships with the official Node image.
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/src/main.ts"]
