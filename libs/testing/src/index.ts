export { uniqueName } from './names';
export { waitFor } from './wait';
export { REPO_ROOT, stackEnv } from './stack';
