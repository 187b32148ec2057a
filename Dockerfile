# syntax=docker/dockerfile:1
# Portcullis container image.
#   docker build -t portcullis:0.1.0 .
#   docker run -p 8080:8080 -v ./portcullis.yaml:/etc/portcullis/portcullis.yaml:ro portcullis:0.1.0
# The configuration must listen on 0.0.0.0 (the default, 127.0.0.1, is unreachable from outside
# the container) and keep its files under /var/lib/portcullis. compose.yaml and
# deploy/kubernetes/ show complete deployments.

# Node 20 is what the project is tested on. It left LTS in April 2026; node:22-bookworm-slim
# builds the same way.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile, pack, and install the packed release with runtime dependencies only ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 is a native addon: it compiles where no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers that ship with the image's Node instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: the lock file lacks other platforms' optional packages (README).
# Scripts wait until the sources are in place (the package's own prepare/prepack need them).
RUN npm install --ignore-scripts --no-audit --no-fund
COPY . .
# npm pack skips prepack, which would run the build a second time.
RUN npm rebuild \
 && npm run build \
 && mkdir /tmp/pack \
 && npm pack --ignore-scripts --pack-destination /tmp/pack
# The release exactly as published, installed as a user would, with the same locked versions and
# no development dependencies. Its own lifecycle scripts (build steps) must not run here; the
# native addon is rebuilt by name.
WORKDIR /opt/portcullis
RUN tar -xzf /tmp/pack/portcullis-*.tgz --strip-components=1 \
 && cp /src/package-lock.json . \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && chmod 0755 bin/portcullis.js \
 && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" \
 && node --input-type=module -e "await import('/opt/portcullis/dist/src/gateway.js')" \
 && node bin/portcullis.js --version \
 && rm -f package-lock.json \
 && npm cache clean --force

# ---- runtime: Node and the installed release; no compilers, no package managers ----
FROM ${NODE_IMAGE} AS runtime
# npm, npx, corepack and yarn leave the image: nothing is installed at run time.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && groupadd --gid 10001 portcullis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/portcullis --shell /usr/sbin/nologin portcullis \
 && mkdir -p /etc/portcullis /var/lib/portcullis \
 && chown 10001:10001 /var/lib/portcullis \
 && chmod 0700 /var/lib/portcullis
COPY --from=build /opt/portcullis /opt/portcullis
RUN ln -s /opt/portcullis/bin/portcullis.js /usr/local/bin/portcullis

ENV NODE_ENV=production \
    PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml
# Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/portcullis
EXPOSE 8080
# Configuration (mounted read-only) and the gateway's own data: SQLite state, the ledger signing
# key, and the SQLite ledger when PostgreSQL is not used.
VOLUME ["/etc/portcullis", "/var/lib/portcullis"]
# Node runs as PID 1 without an init: the gateway installs its own SIGTERM/SIGINT handlers (the
# kernel ignores unhandled signals for PID 1) and drains for shutdown.drain_ms, and it starts no
# child processes, so there is nothing to reap. Give the runtime a stop timeout longer than the
# drain (docker stop --time, compose stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Liveness only (/healthz never depends on the database or upstream). Exec form: no shell needed.
# Set PORTCULLIS_HEALTHCHECK_URL when listen.port is not 8080.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PORTCULLIS_HEALTHCHECK_URL || 'http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/portcullis/bin/portcullis.js", "start"]
