/*  =========================================================================
    ds_util - small shared helpers: clock, ids, base64, hashing, files

    @header
    Functions, not a class: the clock, UUIDs (version 7), base64 and
    SHA-256 (OpenSSL EVP), atomic file writes and safe log samples.
    @end
    =========================================================================
*/

#include "ds_classes.h"

#define UTIL_UUID_LENGTH 36
#define UTIL_BASE64_BLOCK 4096


//  --------------------------------------------------------------------------
//  Wall clock in milliseconds

int64_t
ds_util_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}


//  --------------------------------------------------------------------------
//  RFC 3339 UTC time with milliseconds

char *
ds_util_iso_time (int64_t time_ms, char *buffer, size_t size)
{
    assert (buffer && size >= 32);
    time_t seconds = (time_t) (time_ms / 1000);
    struct tm utc;
    gmtime_r (&seconds, &utc);
    size_t length = strftime (buffer, size, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf (buffer + length, size - length, ".%03dZ", (int) (time_ms % 1000));
    return buffer;
}


//  --------------------------------------------------------------------------
//  Bytes as lower-case hex digits

char *
ds_util_hex (const void *data, size_t size, char *text)
{
    static const char digits [] = "0123456789abcdef";
    const unsigned char *bytes = (const unsigned char *) data;
    for (size_t byte_nbr = 0; byte_nbr < size; byte_nbr++) {
        text [2 * byte_nbr] = digits [bytes [byte_nbr] >> 4];
        text [2 * byte_nbr + 1] = digits [bytes [byte_nbr] & 0x0F];
    }
    text [2 * size] = 0;
    return text;
}


//  --------------------------------------------------------------------------
//  New UUID version 7 (RFC 9562): 48 bits of Unix time in ms, then 74
//  random bits. Ids made later sort later, so new rows land at the end of
//  the store's primary key index instead of at random places in it.

char *
ds_util_uuid (void)
{
    unsigned char bytes [16];
    //  OpenSSL's generator: seeded from the kernel, per thread and fork
    //  safe, and no system call per id (getrandom was one per task)
    int rc = RAND_bytes (bytes + 6, 10);
    assert (rc == 1);
    uint64_t now = (uint64_t) ds_util_now_ms ();
    for (int byte_nbr = 0; byte_nbr < 6; byte_nbr++)
        bytes [byte_nbr] = (unsigned char) (now >> (40 - 8 * byte_nbr));
    bytes [6] = (unsigned char) (0x70 | (bytes [6] & 0x0F));  //  version 7
    bytes [8] = (unsigned char) (0x80 | (bytes [8] & 0x3F));  //  variant 10
    char *text = (char *) malloc (UTIL_UUID_LENGTH + 1);
    assert (text);
    //  8-4-4-4-12 hex digits: groups of 4, 2, 2, 2 and 6 bytes
    static const size_t groups [] = {4, 2, 2, 2, 6};
    char *cursor = text;
    const unsigned char *group = bytes;
    for (size_t group_nbr = 0; group_nbr < sizeof (groups) / sizeof (*groups);
         group_nbr++) {
        if (group_nbr)
            *cursor++ = '-';
        ds_util_hex (group, groups [group_nbr], cursor);
        cursor += 2 * groups [group_nbr];
        group += groups [group_nbr];
    }
    return text;
}


//  --------------------------------------------------------------------------
//  True if text is a canonical UUID

bool
ds_util_is_uuid (const char *text)
{
    if (!text || strlen (text) != UTIL_UUID_LENGTH)
        return false;
    for (int char_nbr = 0; char_nbr < UTIL_UUID_LENGTH; char_nbr++) {
        bool dash =
            char_nbr == 8 || char_nbr == 13 || char_nbr == 18 || char_nbr == 23;
        if (dash != (text [char_nbr] == '-'))
            return false;
        if (!dash && !isxdigit ((unsigned char) text [char_nbr]))
            return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  True if status is a terminal task status

bool
ds_util_is_terminal (const char *status)
{
    return status
           && (streq (status, "completed") || streq (status, "error")
               || streq (status, "cancelled"));
}


//  --------------------------------------------------------------------------
//  White space that base64 text may hold (line breaks of MIME and PEM):
//  the C locale's isspace, without a call per character

static inline bool
s_base64_space (unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}


//  --------------------------------------------------------------------------
//  Decode base64 with OpenSSL's block decoder, straight into the chunk.
//  White space is dropped (copying the text only when it has some), '='
//  is taken only as padding at the end, and missing padding is supplied.

zchunk_t *
ds_util_base64_decode (const char *text, size_t length, size_t limit)
{
    assert (text);
    //  Accept a data URL ("data:image/png;base64,....")
    if (length > 5 && memcmp (text, "data:", 5) == 0) {
        const char *comma = (const char *) memchr (text, ',', length);
        size_t prefix = comma ? (size_t) (comma - text) : 0;
        if (prefix < 7 || memcmp (comma - 7, ";base64", 7))
            return NULL;
        length -= (size_t) (comma + 1 - text);
        text = comma + 1;
    }
    size_t significant = 0;
    for (size_t char_nbr = 0; char_nbr < length; char_nbr++)
        significant += !s_base64_space ((unsigned char) text [char_nbr]);
    if (significant == 0 || significant / 4 * 3 > limit + 3)
        return NULL;
    const char *body = text;
    char *clean = NULL;
    if (significant < length) {
        clean = (char *) malloc (significant);
        assert (clean);
        size_t clean_size = 0;
        for (size_t char_nbr = 0; char_nbr < length; char_nbr++)
            if (!s_base64_space ((unsigned char) text [char_nbr]))
                clean [clean_size++] = text [char_nbr];
        body = clean;
    }
    //  The characters that carry data: all but up to two '=' at the end
    size_t data = significant;
    while (data > 0 && significant - data < 2 && body [data - 1] == '=')
        data--;
    size_t whole = data / 4 * 4;  //  in complete groups of four
    size_t tail = data - whole;   //  0, or 2 or 3 in a last group
    size_t decoded = whole / 4 * 3 + (tail ? tail - 1 : 0);
    zchunk_t *chunk = NULL;
    size_t padding = significant - data;  //  only to end a short group
    bool padded = padding == 0 || (tail > 0 && tail + padding <= 4);
    if (tail != 1 && padded && decoded > 0 && decoded <= limit
        && !memchr (body, '=', data)) {
        chunk = zchunk_new (NULL, whole / 4 * 3 + 3);
        assert (chunk);
        byte *bytes = zchunk_data (chunk);
        //  EVP_DecodeBlock trims what is not base64 from either end of its
        //  input; each group must give its three bytes, or it was not
        bool valid = whole == 0
                     || EVP_DecodeBlock (bytes, (const unsigned char *) body,
                                         (int) whole)
                            == (int) (whole / 4 * 3);
        if (valid && tail) {
            unsigned char last [4] = {'=', '=', '=', '='};
            memcpy (last, body + whole, tail);
            valid = EVP_DecodeBlock (bytes + whole / 4 * 3, last, 4) == 3;
        }
        if (valid)
            zchunk_set (chunk, NULL, decoded);
        else
            zchunk_destroy (&chunk);
    }
    free (clean);
    return chunk;
}


//  --------------------------------------------------------------------------
//  Encode bytes as base64 on one line

char *
ds_util_base64_encode (const void *data, size_t size)
{
    size_t encoded_size = (size + 2) / 3 * 4 + 1;
    char *text = (char *) malloc (encoded_size);
    assert (text);
    int length = EVP_EncodeBlock ((unsigned char *) text,
                                  (const unsigned char *) data, (int) size);
    assert (length >= 0 && (size_t) length < encoded_size);
    text [length] = 0;
    return text;
}


//  --------------------------------------------------------------------------
//  SHA-256 as hex

void
ds_util_sha256_hex (const void *data, size_t size, char *digest)
{
    unsigned char hash [EVP_MAX_MD_SIZE];
    unsigned int hash_size = 0;
    int rc = EVP_Digest (data, size, hash, &hash_size, EVP_sha256 (), NULL);
    assert (rc == 1 && hash_size == 32);
    ds_util_hex (hash, hash_size, digest);
}


//  --------------------------------------------------------------------------
//  Write a file atomically

int
ds_util_write_file (const char *path, const char *text)
{
    char *temporary = zsys_sprintf ("%s.tmp.%d", path, (int) getpid ());
    assert (temporary);
    FILE *file = fopen (temporary, "w");
    int rc = -1;
    if (file) {
        size_t length = strlen (text);
        bool written = fwrite (text, 1, length, file) == length;
        if (fclose (file) == 0 && written && rename (temporary, path) == 0)
            rc = 0;
    }
    if (rc)
        unlink (temporary);
    zstr_free (&temporary);
    return rc;
}


//  --------------------------------------------------------------------------
//  mkdir -p

int
ds_util_mkdir_p (const char *path)
{
    return zsys_dir_create ("%s", path);
}


//  --------------------------------------------------------------------------
//  A bounded, printable sample of data for a log line

char *
ds_util_sample (const void *data, size_t size, char *sample)
{
    const unsigned char *bytes = (const unsigned char *) data;
    size_t length = size < DS_UTIL_SAMPLE ? size : DS_UTIL_SAMPLE;
    for (size_t byte_nbr = 0; byte_nbr < length; byte_nbr++)
        sample [byte_nbr] =
            isprint (bytes [byte_nbr]) ? (char) bytes [byte_nbr] : '.';
    sample [length] = 0;
    return sample;
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_util_test (bool verbose)
{
    printf (" * ds_util: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char buffer [32];
    assert (streq (ds_util_iso_time (1764771826120, buffer, sizeof (buffer)),
                   "2025-12-03T14:23:46.120Z"));
    assert (ds_util_now_ms () > 1764771826120);

    char *uuid = ds_util_uuid ();
    assert (ds_util_is_uuid (uuid));
    assert (uuid [14] == '7' && strchr ("89ab", uuid [19]));
    zclock_sleep (2);
    char *other = ds_util_uuid ();
    assert (!streq (uuid, other));
    assert (strcmp (uuid, other) < 0);  //  time-ordered
    //  The first 48 bits are the time in ms
    char hex [13] = {0};
    memcpy (hex, uuid, 8);
    memcpy (hex + 8, uuid + 9, 4);
    int64_t stamp = (int64_t) strtoull (hex, NULL, 16);
    assert (llabs (stamp - ds_util_now_ms ()) < 5000);
    zstr_free (&uuid);
    zstr_free (&other);
    assert (!ds_util_is_uuid ("1b4e28ba-2fa1-11d2-883f-0016d3cca42"));
    assert (!ds_util_is_uuid ("1b4e28ba+2fa1-11d2-883f-0016d3cca427"));
    assert (!ds_util_is_uuid ("../../etc/passwd"));
    assert (ds_util_is_terminal ("completed") && ds_util_is_terminal ("error")
            && ds_util_is_terminal ("cancelled"));
    assert (
        !ds_util_is_terminal ("pending") && !ds_util_is_terminal ("processing")
        && !ds_util_is_terminal ("complete") && !ds_util_is_terminal (NULL));

    zchunk_t *chunk = ds_util_base64_decode ("aGVsbG8gd29ybGQ=", 16, 100);
    assert (chunk && zchunk_size (chunk) == 11);
    assert (memcmp (zchunk_data (chunk), "hello world", 11) == 0);
    zchunk_destroy (&chunk);
    //  Missing padding, white space and data URLs are accepted
    chunk = ds_util_base64_decode ("aGVs\nbG8gd29y bGQ", 17, 100);
    assert (chunk && zchunk_size (chunk) == 11);
    zchunk_destroy (&chunk);
    const char *url = "data:image/png;base64,aGk=";
    chunk = ds_util_base64_decode (url, strlen (url), 100);
    assert (chunk && zchunk_size (chunk) == 2);
    zchunk_destroy (&chunk);
    //  Bad characters, impossible lengths and oversize are rejected
    assert (!ds_util_base64_decode ("aGVsbG8*d29ybGQ=", 16, 100));
    assert (!ds_util_base64_decode ("aGVsb", 5, 100));
    assert (!ds_util_base64_decode ("", 0, 100));
    assert (!ds_util_base64_decode ("aGVsbG8gd29ybGQ=", 16, 5));
    assert (!ds_util_base64_decode ("data:text/plain,hi", 18, 100));
    //  '=' only as padding at the end; nothing OpenSSL would trim off
    assert (!ds_util_base64_decode ("aG=s", 4, 100));
    assert (!ds_util_base64_decode ("a===", 4, 100));
    assert (!ds_util_base64_decode ("aGVs=", 5, 100));
    assert (!ds_util_base64_decode ("aGk==", 5, 100));
    assert (!ds_util_base64_decode ("aGVs----", 8, 100));
    assert (!ds_util_base64_decode ("----aGVs", 8, 100));
    assert (!ds_util_base64_decode ("aGVsbG8", 7, 4));
    chunk = ds_util_base64_decode ("aGVsbG8=", 8, 100);
    assert (chunk && zchunk_size (chunk) == 5);
    assert (memcmp (zchunk_data (chunk), "hello", 5) == 0);
    zchunk_destroy (&chunk);
    chunk = ds_util_base64_decode ("aGVsbA", 6, 100);
    assert (chunk && zchunk_size (chunk) == 4);
    assert (memcmp (zchunk_data (chunk), "hell", 4) == 0);
    zchunk_destroy (&chunk);
    //  Every length of one to sixty bytes comes back as it went, and a
    //  limit one byte short refuses it
    unsigned char original [60];
    for (size_t byte_nbr = 0; byte_nbr < sizeof (original); byte_nbr++)
        original [byte_nbr] = (unsigned char) (byte_nbr * 37 + 11);
    for (size_t size = 1; size <= sizeof (original); size++) {
        char *text = ds_util_base64_encode (original, size);
        chunk = ds_util_base64_decode (text, strlen (text), size);
        assert (chunk && zchunk_size (chunk) == size);
        assert (memcmp (zchunk_data (chunk), original, size) == 0);
        zchunk_destroy (&chunk);
        assert (!ds_util_base64_decode (text, strlen (text), size - 1));
        zstr_free (&text);
    }

    char *encoded = ds_util_base64_encode ("hello world", 11);
    assert (streq (encoded, "aGVsbG8gd29ybGQ="));
    zstr_free (&encoded);

    char digits [9];
    assert (streq (ds_util_hex ("\x00\x0f\xa5\xff", 4, digits), "000fa5ff"));
    assert (streq (ds_util_hex ("", 0, digits), ""));

    char digest [65];
    ds_util_sha256_hex ("abc", 3, digest);
    assert (streq (digest, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad"));

    char sample [DS_UTIL_SAMPLE + 1];
    assert (streq (ds_util_sample ("a\nb\x01", 4, sample), "a.b."));

    char *path = zsys_sprintf ("/tmp/ds_util_test.%d", (int) getpid ());
    assert (ds_util_write_file (path, "x=1\n") == 0);
    FILE *file = fopen (path, "r");
    assert (file);
    assert (fgets (buffer, sizeof (buffer), file) && streq (buffer, "x=1\n"));
    fclose (file);
    unlink (path);
    zstr_free (&path);
    //  @end
    printf ("OK\n");
}
