# Surge SFU image: the static binary and CA roots, nothing else.
#
#   make release                 # static binaries into dist/linux_{amd64,arm64}/
#   podman build --build-arg TARGETARCH=amd64 -t surge:dev .   (or: make image)
#
# Nothing is downloaded: the only stage is FROM scratch and everything comes
# from the build context (.dockerignore keeps it to dist/).
FROM scratch
ARG TARGETARCH=amd64
COPY dist/linux_${TARGETARCH}/surge /surge
# For webhooks to https:// receivers; make release copies the build host's.
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# No shell, no root: a numeric user, since scratch has no /etc/passwd.
USER 65532:65532
# Listen on every interface inside the container. This needs keys
# (SURGE_KEYS or a mounted config): with the dev key surge refuses to start.
# Keep the admin port (metrics, pprof) off the public network.
ENV SURGE_LISTEN_ADDR=0.0.0.0:7880 \
    SURGE_ADMIN_ADDR=0.0.0.0:7881 \
    SURGE_RTC_UDP_ADDR=0.0.0.0:7882
EXPOSE 7880/tcp 7881/tcp 7882/udp
# SIGTERM drains (clients are told to leave) for up to drain_timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/surge"]
CMD ["serve"]
