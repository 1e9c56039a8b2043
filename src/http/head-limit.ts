// The one limit on an HTTP/1 message head (start line and header fields) for every framer of ours:
// the load generator's response parser and the proxy's message framer.

/** Largest head we frame: llhttp's own default of 80 KiB (Node lowers its to 16 KiB). */
export const MAX_HEAD_BYTES = 80 * 1024;

/** The limit as messages say it. */
export const MAX_HEAD_TEXT = `${MAX_HEAD_BYTES / 1024} KiB`;
