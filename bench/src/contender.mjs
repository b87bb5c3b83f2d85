// @ts-check
import { readdir } from 'node:fs/promises';

/**
 * A contender, ready to run: one call of `pipeline()` runs the whole workload once.
 *
 * @typedef {object} Running
 * @property {() => Promise<void>} pipeline Runs one pipeline (5 steps).
 * @property {() => Promise<void>} flush Delivers whatever the instrumentation still holds.
 * @property {() => number} [delivered] Steps delivered to the end of the pipeline (exporter,
 *   plugin) so far; absent when the contender records nothing.
 */

/**
 * A module in `src/contenders/`: one file per contender, named after it.
 *
 * @typedef {object} ContenderModule
 * @property {string} name Same as the file name without `.mjs`.
 * @property {string} description One line for the README and `latest.json`.
 * @property {() => Promise<Running>} setup Builds the instrumentation; runs once per process.
 * @property {boolean} [exporting] It sends to the sink: measured once more with the sink down.
 * @property {number} [maxPipelines] For very slow contenders: pipelines per round at most (a
 *   tenth of it as warm-up), so the bench ends in minutes; figures stay per step.
 */

/** The contender every other one is compared with: overhead = µs/step − its µs/step. */
export const BASELINE = 'untraced';

const DIRECTORY = new URL('./contenders/', import.meta.url);

/**
 * Names of every contender file, baseline first, the rest in alphabetical order.
 *
 * @example await contenderNames() // ['untraced', 'als', 'otel-sdk', …]
 * @returns {Promise<string[]>}
 */
export async function contenderNames() {
  const files = await readdir(DIRECTORY);
  const names = files
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => f.slice(0, -'.mjs'.length))
    .sort();
  if (!names.includes(BASELINE)) throw new Error(`the baseline contender ${BASELINE}.mjs is missing`);
  return [BASELINE, ...names.filter((n) => n !== BASELINE)];
}

/**
 * Imports one contender module and checks its shape. Only this module is loaded into the
 * process, so no other contender's instrumentation (AsyncLocalStorage, OTel globals) is active.
 *
 * @example const contender = await loadContender('otel-sdk');
 * @param {string} name
 * @returns {Promise<ContenderModule>}
 */
export async function loadContender(name) {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`not a contender name: ${JSON.stringify(name)}`);
  /** @type {Partial<ContenderModule>} */
  const module = await import(new URL(`${name}.mjs`, DIRECTORY).href);
  if (module.name !== name || typeof module.setup !== 'function' || typeof module.description !== 'string') {
    throw new Error(`contenders/${name}.mjs must export name ('${name}'), description and setup()`);
  }
  return /** @type {ContenderModule} */ (module);
}
