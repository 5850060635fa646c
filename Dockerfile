# One image for every role: `recon <service>` picks the role (see deploy/helm).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/recon ./services/recon

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/recon /usr/local/bin/recon
USER nonroot
ENTRYPOINT ["/usr/local/bin/recon"]
