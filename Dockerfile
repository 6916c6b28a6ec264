# One image for every service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gospublic ./gospublic
COPY services ./services
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gospublic
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER gospublic
WORKDIR /home/gospublic
ENV GOSPUBLIC_STATE_DIR=/home/gospublic/var \
    GOSPUBLIC_HTTP_HOST=0.0.0.0 \
    GOSPUBLIC_HTTP_PORT=8080
EXPOSE 8080
ENTRYPOINT ["gospublic"]
