// Errors of the proxy's control plane, with Toxiproxy's status codes and messages (its api.go).

import { TcplensError } from '../errors.ts';

/** An error the control API returns as {"error": message, "status": status}. */
export class ApiError extends TcplensError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
  toJSON(): { error: string; status: number } {
    return { error: this.message, status: this.status };
  }
}

/** Toxiproxy's joinError: "<wrapper>: <detail>" with the wrapper's status. */
function joined(base: string, status: number) {
  return (detail?: string) => new ApiError(detail === undefined ? base : `${base}: ${detail}`, status);
}

export const badRequestBody = joined('bad request body', 400);
export const missingField = joined('missing required field', 400);
export const proxyNotFound = () => new ApiError('proxy not found', 404);
export const proxyAlreadyExists = () => new ApiError('proxy already exists', 409);
export const invalidStream = () => new ApiError('stream was invalid, can be either upstream or downstream', 400);
export const invalidToxicType = (detail?: string) => joined('invalid toxic type', 400)(detail);
export const toxicAlreadyExists = () => new ApiError('toxic already exists', 409);
export const toxicNotFound = () => new ApiError('toxic not found', 404);

/** A listen failure, worded as Go's net.Listen words it ("listen tcp 127.0.0.1:80: bind: address already in use"). */
export function listenFailed(address: string, err: NodeJS.ErrnoException): ApiError {
  const why =
    err.code === 'EADDRINUSE'
      ? 'bind: address already in use'
      : err.code === 'EACCES'
        ? 'bind: permission denied'
        : err.code === 'EADDRNOTAVAIL'
          ? 'bind: cannot assign requested address'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? 'no such host'
            : err.message;
  return new ApiError(`listen tcp ${address}: ${why}`, 500);
}
