# leadd in a container: the static release binary (`make dist`) on a slim Debian 12 runtime.
#
#   docker build -t leadd .
#   docker run -d --name leadd -p 8080:8080 -v leadd-data:/data --stop-timeout 60 leadd
#
# The image ships the dist build (scripts/dist.sh), not the shared Release build: it links
# everything but glibc in, so the runtime image needs no library package at all, and it is
# the build tests/dist runs, as an unprivileged user, in a bare `debootstrap --variant=minbase
# bookworm` root (what debian:12-slim is made from).
#
# The build stage runs the scripts the Makefile runs (`make deps`, `make dist`), with the same
# package list: one source of truth, checked by tests/docker/test_dockerfile.py. No Docker
# engine runs where this is developed: tests/docker/test_image.py runs both stages without one
# (README, "Docker"). Needs BuildKit (Docker's default builder since 23.0) for the ccache mount.

FROM debian:12-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# The whole package list, test tools included: one list for `make` and for this stage, whose
# size does not matter (only the binary leaves it). Its own layer, copied before the sources,
# so that editing a source file does not reinstall the packages.
COPY scripts/install-deps.sh scripts/debian-packages.txt scripts/
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*

# The rest of the context: .dockerignore keeps out what the build does not read (tests, load
# scripts, build trees), so that editing those does not rebuild the binary. Not a list of
# folders here: the build reads more than sources (docs/openapi.json is compiled in, dist.sh
# puts README.md and packaging/ in its tarball), and a list would silently fall behind.
COPY . .

# The context has no .git (.dockerignore), so the version comes, as for a source tarball, from a
# VERSION file: pass it as a build argument, or the binary calls itself the project() version.
ARG LEADD_VERSION=""
ARG LEADD_COMMIT="unknown"
RUN if [[ -n "$LEADD_VERSION" ]]; then printf '%s\n%s\n' "$LEADD_VERSION" "$LEADD_COMMIT" >VERSION; fi

# ccache persists between builds in a BuildKit cache mount: a rebuild after a small change
# recompiles only that change. dist.sh names the binary after its version; the glob matches
# only the binary (not its .debug, .sha256 or .tar.gz), and install refuses more than one.
RUN --mount=type=cache,target=/root/.cache/ccache \
    scripts/dist.sh --out-dir /tmp/dist \
    && install -D -m 0755 /tmp/dist/leadd-*-linux-x86_64 /out/leadd

FROM debian:12-slim AS runtime

# A fixed numeric uid and gid: `USER 10001` lets Kubernetes' runAsNonRoot verify it, and a
# bind-mounted data dir can be chowned to it on the host. --system: no password aging, no
# subordinate ids (useradd warns, harmlessly, that 10001 is above SYS_UID_MAX). /data exists,
# owned by leadd, before VOLUME, so that a fresh named volume starts with that owner and mode.
RUN groupadd --system --gid 10001 leadd \
    && useradd --system --uid 10001 --gid leadd --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin leadd \
    && mkdir -m 0700 /data \
    && chown leadd:leadd /data

# Owned by root: the service cannot replace its own binary.
COPY --from=build /out/leadd /usr/local/bin/leadd

# leadd listens on loopback by default; in a container it must accept the published port.
ENV LEADD_LISTEN=0.0.0.0:8080 \
    LEADD_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001

# leadd drains in-flight requests and writes a final snapshot on SIGTERM (exit 0); give it time
# with `docker run --stop-timeout 60` (Docker's default is 10 s, then SIGKILL: safe, since
# every acknowledged write is already in the log, but the next start replays more of it).
STOPSIGNAL SIGTERM
# `leadd healthcheck` GETs /healthz on the address of LEADD_LISTEN (127.0.0.1 for 0.0.0.0),
# 2 s timeout, exit 0 on 200: no curl in the image. /healthz answers during log recovery too,
# so a long recovery does not make the container unhealthy.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/leadd", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/leadd"]
CMD ["serve"]
