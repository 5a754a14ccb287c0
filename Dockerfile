# syntax=docker/dockerfile:1
# The static binary .ci/run also builds, on a distroless base, as a non-root user.
#   docker build -t orgusers .
#   docker run --rm -p 8080:8080 -e CLERK_SECRET_KEY=sk_live_... orgusers
# Liveness: GET /healthz; readiness: GET /readyz (no HEALTHCHECK: the image has no shell).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not copied in: the binary carries the module version, not the revision.
RUN CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags="-s -w" -o /out/orgusers .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orgusers /orgusers
USER nonroot:nonroot
EXPOSE 8080
ENV LISTEN_ADDR=:8080
ENTRYPOINT ["/orgusers"]
