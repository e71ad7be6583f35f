# Builds the same out/ artifacts as `metalinit build`: out/vmlinuz and out/initramfs.cpio.zst.
# Untested here (no Docker engine on the development machines); `./dev demo` is the tested path.
#
#   docker build -t metalinit-build . && docker create --name m metalinit-build x \
#     && docker cp m:/ ./out && docker rm m
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev gcc binutils busybox-static kmod cpio \
      zstd xz-utils ca-certificates \
 && rm -rf /var/lib/apt/lists/partial
WORKDIR /src
COPY . .
# Editable, as ./dev installs it: the builder freezes the agent from this source tree.
RUN python3 -m venv /venv && /venv/bin/pip install --no-cache-dir -e '.[dev]'
RUN /venv/bin/metalinit build -o /out --report

FROM scratch
COPY --from=build /out/vmlinuz /out/initramfs.cpio.zst /
