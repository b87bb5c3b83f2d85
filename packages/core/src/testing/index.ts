export { formatTrees, MemoryPlugin, type MemoryPluginOptions, type StepTree } from './memory-plugin.js';
