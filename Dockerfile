# The sdgen image. A builder stage turns the source into a wheel and installs it with its
# dependencies (all published as binary wheels) into a virtualenv; the final stage copies only
# that virtualenv onto the same slim Python, so it carries no compilers, build tools, pip cache
# or source tree. It runs as an unprivileged numeric user and writes nothing outside the output
# directory it is given, so a read-only root filesystem works (see deploy/).
#
#   docker build -t sdgen:0.1.0 .
#   docker run --rm sdgen:0.1.0 check /config/scrape_config.yaml

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdgen ./sdgen
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/sdgen \
 && /opt/sdgen/bin/pip install --only-binary=:all: /wheels/*.whl \
 && /opt/sdgen/bin/pip uninstall --yes pip

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="sdgen" \
      org.opencontainers.image.description="Turns a scrape-target ConfigMap into Prometheus file_sd files" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/sdgen /opt/sdgen
# Bytecode was compiled at install time; never try to write it on a read-only filesystem.
ENV PATH=/opt/sdgen/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["sdgen"]
CMD ["run"]
