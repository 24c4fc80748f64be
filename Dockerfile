# Production image: PostgreSQL via LABELFLOW_DATABASE_URL, documents on a mounted volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LABELFLOW_ENVIRONMENT=production \
    LABELFLOW_DATA_DIR=/data \
    LABELFLOW_HOST=0.0.0.0 \
    LABELFLOW_PORT=8000 \
    LABELFLOW_PROCESSES=2

# WeasyPrint (decision letters, expertise reports) needs Pango, HarfBuzz and a French-capable font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system labelflow && useradd --system --gid labelflow --home /app labelflow

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src/ src/
RUN pip install --no-cache-dir -e .
COPY migrations/ migrations/
COPY workflows/ workflows/
COPY templates/ templates/
COPY static/ static/

RUN mkdir -p /data && chown labelflow:labelflow /data
USER labelflow
VOLUME ["/data"]
EXPOSE 8000

# `serve` applies the migrations before starting, then serves on LABELFLOW_HOST:LABELFLOW_PORT
# with LABELFLOW_PROCESSES processes (one per core is a good start); behind a reverse proxy, set
# LABELFLOW_TRUSTED_PROXIES to its address so that sign-in throttling sees the clients' own.
CMD ["labelflow", "serve"]
