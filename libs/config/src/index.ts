export { ConfigError, EnvReader } from './env-reader';
export { DEV_JWT_SECRET, loadSettings } from './settings';
export { devTokenEnabled, isLoopbackHost } from './exposure';
export type { AdmissionSettings, Settings } from './settings';
export { SETTINGS } from './settings-token';
export { APP_RUNTIME, appOfScript, runtimeEnv } from './runtime';
export type { AppRuntime } from './runtime';
