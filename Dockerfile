# syntax=docker/dockerfile:1
# The release build: scripts/build.sh (CGO_ENABLED=0, -trimpath, stamped
# version) in a Go image, copied onto distroless static as nonroot.
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t identityd .
# .dockerignore leaves .git out, so without these arguments the binary says
# version "dev".
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
RUN VERSION="$VERSION" COMMIT="$COMMIT" DATE="$DATE" sh scripts/build.sh -o /out/identityd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/identityd /usr/local/bin/identityd
ENV IDENTITY_ADDR=0.0.0.0:8000 IDENTITY_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/identityd"]
CMD ["serve"]
