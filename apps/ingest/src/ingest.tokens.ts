export const INGEST_CONFIG = Symbol('INGEST_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
