# One image for the whole platform; the pod's command picks the entry point:
#   python -m chargeplane.services.<ocpp|sessions|billing|telemetry>   a service
#   python -m chargeplane.operator                                      the Kubernetes operator
#   chargeplane-emulator ...                                            emulated stations
#   chargeplane migrate                                                 database migrations
# Build: make images (tags chargeplane:<version from pyproject.toml>).
#
# BASE_IMAGE is any Debian-like image with Python 3.11+ and its venv module: python:3.11-slim by
# default; scripts/build-base-image.sh makes one from Debian's packages where no registry is
# reachable (`make images BASE_IMAGE=localhost/chargeplane-base:bookworm`).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# npm fetches the console's front-end packages while the wheel is built (scripts/build_console.py);
# the final image has no Node.js.
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/chargeplane
WORKDIR /src
# Exactly the folders pyproject.toml's package-dir maps under `chargeplane` (a test checks it),
# so the wheel carries every package and the SQL migrations.
COPY pyproject.toml README.md setup.py ./
COPY scripts/build_console.py scripts/build_console.py
COPY cli cli
COPY common common
COPY services services
COPY emulator emulator
COPY operator operator
COPY bench bench
# A regular (not editable) install builds the wheel and installs it with its dependencies.
RUN /opt/chargeplane/bin/pip install --upgrade pip && /opt/chargeplane/bin/pip install . && rm -rf /src

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="chargeplane" \
      org.opencontainers.image.description="ChargePlane OCPP 1.6J CSMS: services, operator, emulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid lets Kubernetes' runAsNonRoot verify the user without reading /etc/passwd.
RUN useradd --uid 10001 --user-group --create-home chargeplane
COPY --from=builder /opt/chargeplane /opt/chargeplane
ENV PATH=/opt/chargeplane/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# An empty working directory: nothing there can shadow a stdlib module (see pyproject.toml).
WORKDIR /home/chargeplane
USER 10001
CMD ["chargeplane", "--help"]
