# One image for every GoChat service: `gochat api|auth|ws|indexer|migrate` (CMD picks one).
#   docker build -t docker.io/gochat/gochat:0.1.0 .
# Runs as UID 10001 with a read-only root filesystem: the only writable path is /tmp (an emptyDir
# in a pod), which is also the working directory, so relative data folders land there.
# BASE is overridable: `make images` points it at a local Debian bookworm base made with
# debootstrap (no registry here); its python3 is 3.11, like the official image's.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/gochat UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# A CA bundle may be passed as a build secret where registries are reached through a re-signing
# proxy (`--secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt`); without it the defaults apply.
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --extra apps --no-install-project --no-cache
COPY apps ./apps
COPY operator ./operator
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    /opt/uv/bin/uv sync --frozen --no-dev --extra apps --no-editable --no-cache

FROM ${BASE}
RUN useradd --uid 10001 --gid 0 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin gochat
COPY --from=build /opt/gochat /opt/gochat
COPY db /opt/gochat/db
COPY docker/healthcheck.py /opt/gochat/healthcheck.py
ENV PATH=/opt/gochat/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp \
    GOCHAT_MIGRATIONS_DIR=/opt/gochat/db/pgmigrations \
    GOCHAT_CQL_MIGRATIONS_DIR=/opt/gochat/db/migrations \
    GOCHAT_HOST=0.0.0.0
WORKDIR /tmp
USER 10001:0
# api, auth, ws (gateway), indexer: gochat.contract.services.PORTS
EXPOSE 8080 8081 8082 8083
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/gochat/bin/python", "/opt/gochat/healthcheck.py"]
ENTRYPOINT ["/opt/gochat/bin/gochat"]
CMD ["api"]
