# gridhub: runs the TypeScript sources as `npm start` does: bundled by esbuild on first start and
# cached (bin/run-ts.mjs). The image builds that bundle once, below, while node_modules is writable.
#
# The image's file set is defined in one place: package.json "files", i.e. exactly what `npm pack`
# ships. test/package.e2e.test.ts assembles the same set the same way (npm pack, then
# `npm ci --omit=dev --ignore-scripts`) and starts the hub from it, so a folder missing from the
# image fails `npm test` instead of `docker compose up`.

FROM node:20-bookworm-slim AS pack
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
 && npm pack --pack-destination /tmp \
 && mkdir /app \
 && tar -xzf /tmp/gridhub-*.tgz -C /app --strip-components=1 \
 && cp package-lock.json /app/

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=pack /app ./
# --ignore-scripts: the package's own lifecycle scripts need dev tools; no production dependency
# builds native code.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
 && node bin/run-ts.mjs --build cli/main.ts
# ffmpeg for the cameras' live view and detection stills (without it the hub runs, live view off).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
USER node
ENV GRIDHUB_HOST=0.0.0.0 GRIDHUB_DATA_DIR=/data
EXPOSE 1883 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/gridhub.js", "start"]
