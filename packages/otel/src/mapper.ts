/**
 * For plugins built on this one with a mapper of their own (Langfuse, Phoenix): their mapper
 * needs options beside the plugin's `MapOptions`, and merging the two per span would cost an
 * object per span on the export path.
 */
import type { Step } from '@spanchain/core';
import type { MapOptions, SpanData, StepMapper } from './map.js';

/**
 * A `StepMapper` that calls `mapper` with the plugin's options and `extra` merged. The plugin
 * passes the same options object for every span, so the merge is made once and remade only when
 * that object changes; `extra` wins over the plugin's options.
 */
export function withMapOptions<Extra extends object>(
  extra: Extra,
  mapper: (step: Step, options: MapOptions & Extra) => SpanData,
): StepMapper {
  let merged: (MapOptions & Extra) | undefined;
  let mergedFrom: MapOptions | undefined;
  return (step, options) => {
    if (merged === undefined || mergedFrom !== options) {
      merged = { ...options, ...extra };
      mergedFrom = options;
    }
    return mapper(step, merged);
  };
}
