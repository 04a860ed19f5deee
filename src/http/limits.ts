/** Largest request body parksync reads; webhooks over this get 413. */
export const BODY_LIMIT_BYTES = 256 * 1024;
