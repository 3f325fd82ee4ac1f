# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/identityd ./cmd/identityd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/identityd /usr/local/bin/identityd
ENV IDENTITY_ADDR=0.0.0.0:8000 IDENTITY_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/identityd"]
CMD ["serve"]
