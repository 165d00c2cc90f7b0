# newsroom-alerts: one image for every process (worker, beat, migrations, the web app,
# the bounce receiver, SMTP sink); docker-compose.yml picks the command.
#
#   docker build -t newsroom-alerts .
#   docker run --rm -e ALERTS_DATABASE_URL=... -e ALERTS_BROKER_URL=... \
#       -e ALERTS_SECRET_KEY=... newsroom-alerts              # = alerts worker
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The processes run as an unprivileged user (Celery also warns when run as root).
RUN groupadd --system --gid 10001 alerts \
 && useradd --system --uid 10001 --gid alerts --create-home --home-dir /home/alerts \
        --shell /usr/sbin/nologin alerts

# Build from a source folder that is NOT the working directory: `celery -A worker`
# puts the current directory first on sys.path, and a source checkout of `alerts/`
# there would shadow the installed package (whose wheel carries templates/ and
# migrations/ inside it, see [tool.hatch.build.targets.wheel.force-include]).
# .gitignore comes along because hatch honours it (no __pycache__ in the wheel).
WORKDIR /src
COPY pyproject.toml README.md .gitignore ./
COPY alerts/ alerts/
COPY templates/ templates/
COPY migrations/ migrations/
# Extra pip requirements baked into the image, e.g. EXTRA_PIP_PACKAGES="flower>=2.0"
# for the compose file's flower service. Empty by default.
ARG EXTRA_PIP_PACKAGES=""
RUN pip install . ${EXTRA_PIP_PACKAGES}

WORKDIR /app
# `celery -A worker worker|beat|flower` imports this module from the current directory.
COPY worker.py ./

# ALERTS_DATA_DIR: the beat schedule, the sink's Maildir (and, with nothing else
# configured, the embedded SQLite files). Owned by the app user so that a named
# volume mounted here starts out writable.
RUN mkdir /data && chown alerts:alerts /data
ENV ALERTS_DATA_DIR=/data

USER alerts

CMD ["alerts", "worker"]
