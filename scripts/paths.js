// Resolves the @doubletap/<lib> aliases for the compiled code under dist/ (node -r ./scripts/paths.js).
const { join } = require('node:path');
const tsconfigPaths = require('tsconfig-paths');

tsconfigPaths.register({
  baseUrl: join(__dirname, '..', 'dist'),
  paths: { '@doubletap/*': ['libs/*/src'] },
});
