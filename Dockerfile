# Elastic Beanstalk "Docker running on 64bit Amazon Linux 2023" builds this on the instance (see Dockerrun.aws.json),
# or you build it once and push it to ECR (README, Deploy: a prebuilt image). The base image is Docker's official
# node image from its Amazon ECR Public mirror: the same image, without Docker Hub's anonymous pull-rate limit.

# Compile the TypeScript with the dev dependencies.
FROM public.ecr.aws/docker/library/node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json .swcrc ./
COPY src ./src
RUN npm run build

# Production dependencies only: no s3rver, no compilers, no test tools.
FROM public.ecr.aws/docker/library/node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM public.ecr.aws/docker/library/node:24-bookworm-slim
# MALLOC_ARENA_MAX as in start:prod: glibc's per-thread malloc arenas cost idle memory (bench/README.md).
ENV NODE_ENV=production \
    PORT=3000 \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json ./
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Owned by root, run as the image's unprivileged "node" user: the code cannot be changed at run time.
USER node
EXPOSE 3000
# Exec form: node is PID 1 and gets SIGTERM itself (no shell or npm in between), so it drains and exits 0.
CMD ["node", "--max-semi-space-size=16", "--heap-growing-percent=50", "dist/main.js"]
