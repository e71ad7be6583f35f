# Builds what `metalinit build` writes to out/ (vmlinuz and the initramfs archive), the
# same bytes for the same inputs (docs/build.md, "The Dockerfile").
#
#   docker build -o out .                  # BuildKit: the final stage's files land in out/
#
# Behind a proxy whose CA only the host trusts, pip needs that CA: name a file in the
# context (`cp /etc/ssl/certs/ca-certificates.crt host-ca.crt`, then
# `--build-arg PIP_CERT=/src/host-ca.crt`), or with buildah / podman bind it in:
#   buildah bud --network host -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
#     --build-arg PIP_CERT=/run/host-ca.crt -o type=local,dest=out .   # what the test runs
FROM debian:bookworm AS build
# A CA bundle for pip only (empty: pip's own); apt fetches over plain http with signed lists.
ARG PIP_CERT
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev gcc binutils busybox-static kmod cpio \
      zstd xz-utils ca-certificates \
 && rm -rf /var/lib/apt/lists/partial
WORKDIR /src
COPY . .
# Editable, with the dev extra, as ./dev installs it: the builder freezes the agent from this
# source tree, and the same distributions give the same frozen agent. An empty PIP_CERT
# would make pip skip certificate checks, so it is unset rather than passed on empty.
RUN if [ -z "${PIP_CERT:-}" ]; then unset PIP_CERT; fi \
 && python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --disable-pip-version-check -e '.[dev]'
RUN /venv/bin/metalinit build -o /out --report

FROM scratch
# Every file the build wrote, whatever their number.
COPY --from=build /out/ /
