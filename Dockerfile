# gridhub: runs the TypeScript sources through tsx (no build step), as `npm start` does.
# The dashboard bundle is built with the dev dependencies (Vite) in a stage of its own.
FROM node:20-bookworm-slim AS ui
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY cases ./cases
COPY hub ./hub
COPY registry ./registry
COPY web ./web
RUN npx vite build --config web/ui/vite.config.ts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY hub ./hub
COPY store ./store
COPY registry ./registry
COPY gateway ./gateway
COPY ingest ./ingest
COPY rules ./rules
COPY cases ./cases
COPY web ./web
COPY --from=ui /app/web/ui/dist ./web/ui/dist
COPY simulators ./simulators
COPY tsconfig.json ./
USER node
ENV GRIDHUB_HOST=0.0.0.0 GRIDHUB_DATA_DIR=/data
EXPOSE 1883 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/api/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "bin/gridhub.js", "start"]
