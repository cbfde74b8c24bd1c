# One image for every GoChat service: `gochat api|auth|ws|indexer|migrate`.
# BASE is overridable so CI (no registry) can point it at a locally built Debian base.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 UV_PROJECT_ENVIRONMENT=/opt/gochat UV_COMPILE_BYTECODE=1
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY apps ./apps
COPY operator ./operator
# A CA bundle can be passed as a build secret where registries are reached through a proxy.
RUN --mount=type=secret,id=cacert,required=false \
    if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert SSL_CERT_FILE=/run/secrets/cacert; fi; \
    python -m pip install --no-cache-dir uv==0.13.9 \
    && uv sync --frozen --no-dev --extra apps --extra operator --no-editable

FROM ${BASE}
RUN useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin gochat
COPY --from=build /opt/gochat /opt/gochat
COPY db /opt/gochat/db
ENV PATH=/opt/gochat/bin:$PATH PYTHONUNBUFFERED=1 GOCHAT_MIGRATIONS_DIR=/opt/gochat/db/pgmigrations
USER 10001
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["gochat"]
CMD ["api"]
