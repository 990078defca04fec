# zerotrace collector image: Debian 12, multi-stage.
#   docker build -t zerotrace:dev .
#   docker run --rm --privileged --pid=host -v /sys/kernel/tracing:/sys/kernel/tracing \
#     -v /sys/kernel/debug:/sys/kernel/debug -v /sys/fs/bpf:/sys/fs/bpf -v /proc:/host/proc:ro \
#     -e ZEROTRACE_PROC_ROOT=/host/proc -p 9464:9464 zerotrace:dev run
# The build stage uses the same dependency script and CMake build as a developer machine, so the
# binary is the one the test suite exercises. The runtime stage gets only the shared libraries the
# binary links (computed with ldd + dpkg -S in the build stage), not compilers or -dev packages.
# No "# syntax=" line on purpose: with BuildKit it makes every build first pull the
# docker/dockerfile frontend image from Docker Hub, which fails where no registry is reachable;
# nothing here needs more than the builder's built-in frontend. scripts/build-image.sh builds the
# image with no registry at all (Debian mirror only).

ARG DEBIAN_IMAGE=debian:12-slim

# ---------------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build
ARG BUILD_TYPE=RelWithDebInfo
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/setup-deps.sh scripts/setup-deps.sh
# git: the build stamps the commit into zerotrace_build_info{git_commit}.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends git ca-certificates >/dev/null \
 && bash scripts/setup-deps.sh \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DZT_BUILD_TESTS=OFF \
 && cmake --build /build --target zerotrace -j"$(nproc)" \
 && if cmake --build /build --target help | grep -q '^zerotrace_cupti:'; then \
      cmake --build /build --target zerotrace_cupti -j"$(nproc)"; fi
# Stage the files and the list of Debian packages that own the libraries they need.
RUN set -eu; \
    install -D -m 0755 /build/userspace/cli/zerotrace /out/usr/bin/zerotrace; \
    cupti="$(find /build -name 'libzerotrace_cupti.so*' -type f | head -n1)"; \
    if [ -n "$cupti" ]; then install -D -m 0755 "$cupti" /out/usr/lib/zerotrace/libzerotrace_cupti.so; fi; \
    for f in $(find /out -type f | xargs ldd 2>/dev/null | awk '/=> \// {print $3}' | sort -u); do \
      real="$(readlink -f "$f")"; \
      for p in "$f" "$real" "${f#/usr}" "${real#/usr}"; do \
        if pkg="$(dpkg -S "$p" 2>/dev/null)"; then echo "${pkg%%:*}"; break; fi; \
      done; \
    done | sed 's/,.*//' | sort -u > /out/runtime-packages.txt; \
    echo "runtime packages:"; cat /out/runtime-packages.txt; \
    /out/usr/bin/zerotrace version

# ---------------------------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends ca-certificates $(cat /tmp/runtime-packages.txt) >/dev/null \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /out/usr/ /usr/
LABEL org.opencontainers.image.title="zerotrace" \
      org.opencontainers.image.description="eBPF zero-instrumentation profiler and collector" \
      org.opencontainers.image.licenses="Apache-2.0"
# The collector needs root with BPF privileges (see deploy/kubernetes): no USER switch.
EXPOSE 9464
ENTRYPOINT ["/usr/bin/zerotrace"]
CMD ["run"]
