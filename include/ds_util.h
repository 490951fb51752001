/*  =========================================================================
    ds_util - small shared helpers: clock, ids, base64, hashing, files

    Thin wrappers over czmq and OpenSSL so that no service writes its own.
    =========================================================================
*/

#ifndef DS_UTIL_H_INCLUDED
#define DS_UTIL_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  Wall clock in milliseconds since the Unix epoch
int64_t ds_util_now_ms (void);

//  Format a millisecond time as RFC 3339 UTC ("2026-12-03T14:23:46.120Z")
//  into buffer, which must hold at least 32 bytes. Returns buffer.
char *ds_util_iso_time (int64_t time_ms, char *buffer, size_t size);

//  A new UUID, version 7 (time-ordered: ids made later sort later), in
//  canonical lower-case 8-4-4-4-12 form; caller frees.
char *ds_util_uuid (void);

//  True if text is a canonical UUID (36 chars, hex and dashes).
bool ds_util_is_uuid (const char *text);

//  True if status is a terminal task status: completed, error, cancelled.
bool ds_util_is_terminal (const char *status);

//  Decode base64 (standard alphabet, padding optional, white space and
//  a data: URL prefix allowed). Returns a new chunk the caller owns, or
//  NULL if the text is not valid base64 or decodes to more than limit.
zchunk_t *ds_util_base64_decode (const char *text, size_t length, size_t limit);

//  Encode bytes as base64 without line breaks; caller frees.
char *ds_util_base64_encode (const void *data, size_t size);

//  Bytes as lower-case hex digits into text [2 * size + 1]; returns text.
char *ds_util_hex (const void *data, size_t size, char *text);

//  SHA-256 of data as 64 lower-case hex digits into digest [65].
void ds_util_sha256_hex (const void *data, size_t size, char *digest);

//  Write text to path atomically (temporary file, then rename).
//  Returns 0 or -1.
int ds_util_write_file (const char *path, const char *text);

//  Create directory path and its parents. Returns 0 or -1.
int ds_util_mkdir_p (const char *path);

//  Copy at most DS_UTIL_SAMPLE bytes of data into sample [DS_UTIL_SAMPLE+1]
//  for a log line, showing non-printable bytes as '.'. Returns sample.
#define DS_UTIL_SAMPLE 128
char *ds_util_sample (const void *data, size_t size, char *sample);

//  Self test of this class
void ds_util_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
