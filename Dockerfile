# Stage 1 builds the single executable with the same script the tests use (npm ci installs Bun from npm).
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && ./ecom --version

# Stage 2: only the binary on a slim image; every role in one process, API on 0.0.0.0:8080.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 ecom && mkdir -p /data && chown ecom /data
COPY --from=build /src/ecom /usr/local/bin/ecom
USER ecom
ENV ECOM_HOST=0.0.0.0 ECOM_PORT=8080 ECOM_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
# On 0.0.0.0 the mutating endpoints need ECOM_ADMIN_TOKEN (docker run -e ECOM_ADMIN_TOKEN=...).
ENTRYPOINT ["ecom"]
CMD ["--role=all"]
