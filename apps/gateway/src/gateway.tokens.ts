export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');
export const API_KEYS = Symbol('API_KEYS');
