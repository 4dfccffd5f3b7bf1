# syntax=docker/dockerfile:1
# The ghl-sync image: every service is `ghl-sync <command>` on the same image.
#
# Checked without Docker by scripts/image-check (buildah and podman; see docs/deploy.md).
#
# Two stages: `build` installs the package and its pinned dependencies into a virtualenv;
# the runtime stage copies only that virtualenv (no pip cache, no sources, no build files)
# and runs as an unprivileged user whose one writable folder is /var/lib/ghl-sync.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/ghl-sync
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
COPY streams ./streams
RUN /opt/ghl-sync/bin/pip install . \
    && /opt/ghl-sync/bin/ghl-sync --version

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/ghl-sync/bin:$PATH \
    GHL_SYNC_STREAMS_DATA_DIR=/var/lib/ghl-sync/worker
# The data folder is the working directory and the only place the services write (the
# worker's Faust state); it is a volume so a rocksdb table store outlives the container.
# The group is made with the user's id: `USER 10001:10001` then names a group that exists
# (useradd --system --user-group would pick a system gid below 1000 instead). --no-log-init:
# no sparse lastlog entry sized by the high uid.
RUN groupadd --gid 10001 ghlsync \
    && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init \
        --home-dir /var/lib/ghl-sync --shell /usr/sbin/nologin ghlsync \
    && install -d -o ghlsync -g ghlsync -m 0750 /var/lib/ghl-sync
COPY --from=build /opt/ghl-sync /opt/ghl-sync
WORKDIR /var/lib/ghl-sync
VOLUME ["/var/lib/ghl-sync"]
USER 10001:10001

# Each service serves its health on its own port: set HEALTHCHECK_URL to it (compose does,
# e.g. http://127.0.0.1:9101/readyz for the worker). One-shot commands (migrate, backfill)
# set none and count as healthy while they run.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["python", "-c", "import os, urllib.request; url = os.environ.get('HEALTHCHECK_URL'); url and urllib.request.urlopen(url, timeout=4)"]

ENTRYPOINT ["ghl-sync"]
CMD ["--help"]
