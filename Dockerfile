# The ghl-sync image: every service is `ghl-sync <command>` on the same image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
COPY streams ./streams
RUN pip install . && useradd --system --uid 10001 ghlsync
USER ghlsync

ENTRYPOINT ["ghl-sync"]
CMD ["--help"]
