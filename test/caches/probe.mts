import { createRedisCache } from '../../src/caches/redis.js';
import { RedisServer, freePort } from '../helpers/redis-server.js';
const t0 = Date.now(); const log = (...a: unknown[]) => console.log(Date.now() - t0, ...a);
const signal = new AbortController().signal;
const server = await RedisServer.start();
const cache = createRedisCache(server.url, { onWarning: (w) => log('WARN', w) });
log('get miss', await cache.get('k', { signal }));
try { await cache.set('k', { x: 1 } as any, { ttlMs: 1000, signal }); log('set ok'); } catch (e) { log('set err', e); }
log('get bad', await cache.get('k', { signal }));
await server.kill(); log('killed');
log('get after kill', await cache.get('k', { signal }));
try { await cache.set('k', { x: 1 } as any, { ttlMs: 1000, signal }); log('set ok'); } catch (e) { log('set err', (e as Error).message); }
await server.start(); log('restarted');
for (let i = 0; i < 30; i++) { try { await cache.set('k2', { y: 1 } as any, { ttlMs: 1000, signal }); log('set ok after restart', i); break; } catch (e) { log('set err', (e as Error).message); await new Promise(r => setTimeout(r, 200)); } }
await cache.disconnect(); await server.stop(); log('done');
const down = createRedisCache(`redis://127.0.0.1:${await freePort()}`, { onWarning: (w) => log('WARN2', w.message) });
log('down get', await down.get('k', { signal }));
try { await down.set('k', { x: 1 } as any, { ttlMs: 1000, signal }); } catch (e) { log('down set err', (e as Error).message); }
await down.disconnect(); log('end');
