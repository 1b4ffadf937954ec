export { delay } from '../internal/async.js';
