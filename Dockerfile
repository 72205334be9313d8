# syntax=docker/dockerfile:1
#
# One image for all three callercard processes; the subcommand picks the process:
#   docker run callercard:latest            -> callercard api (uvicorn on 0.0.0.0:8090)
#   docker run callercard:latest worker     -> callercard worker (Celery)
#   docker run callercard:latest listener   -> callercard listener (Asterisk AMI)
# Configuration is CALLERCARD_* environment variables (see callercard/settings.py);
# the secrets have no defaults and must be provided at run time.

# --- widget: the helpdesk script, from its committed sources and lockfile ---------
FROM node:20-slim AS widget
WORKDIR /widget
COPY callercard/widget/package.json callercard/widget/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY callercard/widget/src ./src
RUN npm run build

# --- build: install the project and its dependencies into a venv ----------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Exactly the locked versions, each checked against its hash (requirements.lock, written by `make lock` from
# pyproject.toml's ranges; setuptools is in it to build the project below without fetching anything unlocked).
# Runtime dependencies only: no [test] extra.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
# README* may be absent; pyproject.toml always matches, so this COPY never fails.
COPY pyproject.toml README* ./
COPY callercard ./callercard
COPY worker ./worker
COPY crm ./crm
COPY asterisk ./asterisk
COPY --from=widget /widget/dist ./callercard/widget/dist
# The project itself, on top of the locked set: nothing resolved or downloaded here.
RUN pip install --no-deps --no-build-isolation . && pip check

# --- runtime --------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALLERCARD_API_HOST=0.0.0.0 \
    CALLERCARD_API_PORT=8090

RUN useradd --system --create-home --home-dir /home/callercard --shell /usr/sbin/nologin \
        --uid 10001 --user-group callercard

COPY --from=build /opt/venv /opt/venv

USER callercard
WORKDIR /home/callercard

EXPOSE 8090

# No HEALTHCHECK here: the image also runs the worker and the listener, which do
# not serve HTTP. docker-compose.yml gives the api service its own healthcheck.
ENTRYPOINT ["callercard"]
CMD ["api"]
