# syntax=docker/dockerfile:1
# The bookstore storefront (bookstore_web), served by waitress on port 8000.
#
#   docker build -f docker/web.Dockerfile -t bookstore-web .        (from the repository root)
#   docker run -e BOOKSTORE_API_URL=http://api:8000 -e BOOKSTORE_REDIS_URL=… \
#              -e BOOKSTORE_SESSION_SECRET=… -p 8000:8000 bookstore-web
#
# All configuration comes from BOOKSTORE_* environment variables (see README.md);
# the image holds no settings of any environment and no secrets.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: this app's pinned dependencies and its wheel, in a venv -----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
# setuptools stays in the runtime venv: Pyramid imports pkg_resources (gone from setuptools 81).
RUN python -m venv /opt/venv \
    && pip install "pip==26.3" "setuptools==80.10.2" "wheel==0.48.0"
# Dependencies first, so a code change reuses this layer: only this app's set
# (requirements/web.txt), never the other app's.
COPY requirements/web.txt ./requirements/
RUN pip install -r requirements/web.txt
# The build context holds only what the wheels need (see .dockerignore); the
# web distribution packages bookstore_core and bookstore_web (see setup.py).
COPY . ./
RUN BOOKSTORE_DIST=web pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip install --no-deps /wheels/*.whl

# ---- runtime: the venv on a slim Python, as an unprivileged user ---------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="bookstore-web" \
      org.opencontainers.image.description="Bookstore web storefront (Pyramid, Jinja2, htmx, waitress) on port 8000" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BOOKSTORE_ENV=production \
    BOOKSTORE_LOG_FORMAT=json
RUN groupadd --system --gid 10001 bookstore \
    && useradd --system --uid 10001 --gid bookstore --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin bookstore
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/bookstore
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# The server is PID 1 (exec form, no shell in between). PID 1 only receives the
# signals it handles, and Python handles SIGINT (waitress then closes and exits 0),
# so `docker stop` sends SIGINT.
STOPSIGNAL SIGINT
CMD ["bookstore-web", "serve", "--host", "0.0.0.0", "--port", "8000"]
