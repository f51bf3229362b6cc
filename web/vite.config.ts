import { defineConfig } from 'vitest/config';

// Three pages, one bundle graph: shared modules (API client, ECharts) are split
// into common chunks. Assets get content hashes, so the server can cache them for a year.
export default defineConfig({
  // Paths are relative to web/ (npm scripts run there).
  root: '.',
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // ECharts alone is ~1 MB before gzip; the big screen needs it, so we raise the
    // warning threshold instead of silencing warnings altogether.
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      input: {
        index: 'index.html',
        screen: 'screen.html',
        report: 'report.html',
      },
    },
  },
  server: {
    // `npm run dev` against a running `chengyun serve` on the default port.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
