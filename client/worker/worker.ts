/** Entry of the dedicated module worker: the engine behind a facade that exposes exactly WorkerApi. */
import * as Comlink from 'comlink';
import { Engine } from './engine.ts';
import { workerFacade } from './facade.ts';

// A rejected promise nobody awaits must not surface as an error in the host page's console.
self.addEventListener('unhandledrejection', (e) => e.preventDefault());
Comlink.expose(workerFacade(new Engine()));
