import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// The build goes into the Python package and is committed; base './' keeps asset URLs relative so the page works
// wherever the server mounts it.
export default defineConfig({
  plugins: [react()],
  base: './',
  build: { outDir: '../nnl/console/static', emptyOutDir: true, chunkSizeWarningLimit: 800 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000' } },
  test: { environment: 'node', include: ['src/**/*.test.js'] },
})
