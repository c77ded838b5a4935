/** Entry of the dedicated module worker: the engine, exposed to the page with comlink. */
import * as Comlink from 'comlink';
import { Engine } from './engine.ts';

const engine = new Engine();
// A rejected promise nobody awaits must not surface as an error in the host page's console.
self.addEventListener('unhandledrejection', (e) => e.preventDefault());
Comlink.expose(engine);
