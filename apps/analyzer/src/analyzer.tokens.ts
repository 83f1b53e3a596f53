export const ANALYZER_CONFIG = Symbol('ANALYZER_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
export const DECODER = Symbol('DECODER');
export const ANALYZER_KAFKA = Symbol('ANALYZER_KAFKA');
