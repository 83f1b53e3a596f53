// The analyzer's public entry: what other apps and tools may use (nothing else of apps/analyzer/src).
export { startAnalyzer } from './main.js';
export { AnalyzerMetrics } from './analyzer-metrics.js';
