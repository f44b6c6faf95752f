import { pseudonymize, type KeyRing } from './keys.js';

/** Turns raw device ids into pids at the edge. Keys are cached per (app, version): HKDF per event is wasteful. */
export class Pseudonyms {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly keyRing: KeyRing,
    private readonly currentVersion = 1,
  ) {}

  get keyVersion(): number {
    return this.currentVersion;
  }

  pid(appId: string, deviceId: string, keyVersion = this.currentVersion): string {
    const cacheKey = `${keyVersion}:${appId}`;
    let key = this.keys.get(cacheKey);
    if (!key) {
      key = this.keyRing.pseudonymKey(appId, keyVersion);
      this.keys.set(cacheKey, key);
    }
    return pseudonymize(key, deviceId);
  }
}
