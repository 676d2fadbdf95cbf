# syntax=docker/dockerfile:1
# The production image: the API under gunicorn, as a non-root user, with only the runtime dependencies.
# Build:  docker build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t feature-flags .
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# requirements.txt only: the embedded database (SecantusDB) is a development dependency and stays out.
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# The admin UI exported as plain files, and nginx serving them and proxying the API (compose builds it with
# `target: web`). The export renders templates only: it needs no database, so it points at none.
FROM builder AS ui
WORKDIR /src
COPY app.py ./
COPY feature_flags ./feature_flags
COPY templates ./templates
COPY static ./static
RUN MONGO_URI=mongodb://127.0.0.1:9/ FF_DB_TIMEOUT_MS=100 FF_SEED_DEMO=false \
    /opt/venv/bin/flask --app app ui export /srv/ui

FROM nginx:1.27-alpine AS web
COPY nginx.conf /etc/nginx/nginx.conf
COPY --from=ui /srv/ui /usr/share/nginx/html

# The API image; the last stage, so a plain `docker build .` produces it.
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/example/feature-flags
ARG CREATED=unknown
LABEL org.opencontainers.image.title="feature-flags" \
      org.opencontainers.image.description="A small, fast, self-hosted feature-flag service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=5000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /tmp/prometheus \
    && chown app:app /tmp/prometheus

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the app user: the process cannot rewrite its own code.
COPY app.py gunicorn.conf.py ./
COPY feature_flags ./feature_flags
COPY templates ./templates
COPY static ./static

USER 10001:10001
EXPOSE 5000
# Python, not curl: the slim image has no curl, and this exits non-zero on any error or non-2xx answer.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '5000') + '/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:app"]
