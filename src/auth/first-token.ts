/** File in the data directory that holds the admin token written on first start. */
export const FIRST_TOKEN_FILE = 'admin-token';
