/**
 * The console's build: a static single-page app under /console/, written into the Worker's assets
 * (`public/console/`, git-ignored). scripts/build-assets.ts runs it with this folder as the root
 * (wrangler's build command); by hand: `npx vite build console`.
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: '../public/console',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
});
