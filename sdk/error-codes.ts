// (filled in below, in the error-code step)
export type ErrorCode = string;
