/*  =========================================================================
    test_http_errors - every rejection has its status and code, and the
    services keep serving afterwards
    =========================================================================
*/

#include "testutil.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define MAX_BODY 200000
#define STORE_BUSY_MS 300  //  the gateway's wait for a locked store

static th_harness_t *s_harness;

//  Send a request and check the status and the error code
static void
s_expect (const char *method,
          const char *path,
          const char *content_type,
          const char *body,
          size_t size,
          long status,
          const char *code)
{
    char *url = zsys_sprintf ("%s%s", th_harness_url (s_harness), path);
    char *response = NULL;
    long got = th_http (method, url, content_type, body, size, &response);
    TH_CHECK (got == status, "%s %s: expected %ld, got %ld: %s", method, path,
              status, got, response);
    json_t *json = json_loads (response, 0, NULL);
    const char *got_code = json_string_value (
        json_object_get (json_object_get (json, "error"), "code"));
    const char *message = json_string_value (
        json_object_get (json_object_get (json, "error"), "message"));
    TH_CHECK (got_code && streq (got_code, code), "%s %s: expected %s: %s",
              method, path, code, response);
    TH_CHECK (message && *message, "%s %s: no message", method, path);
    json_decref (json);
    zstr_free (&response);
    zstr_free (&url);
}

#define JSON "application/json"
#define EXPECT_JSON(path, text, status, code)                                  \
    s_expect ("POST", path, JSON, text, strlen (text), status, code)

//  Raw bytes on a TCP connection to the gateway; returns what came back
static char *
s_raw (const char *bytes, size_t size)
{
    int port = atoi (strrchr (th_harness_url (s_harness), ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_port = htons ((uint16_t) port);
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    TH_CHECK (connect (fd, (struct sockaddr *) &address, sizeof (address)) == 0,
              "connect: %s", strerror (errno));
    struct timeval timeout = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof (timeout));
    TH_CHECK (write (fd, bytes, size) == (ssize_t) size, "write");
    char reply [4096] = {0};
    ssize_t got = read (fd, reply, sizeof (reply) - 1);
    close (fd);
    return strdup (got > 0 ? reply : "");
}

int
main (void)
{
    char *max_body = zsys_sprintf ("gateway:--max-body=%d", MAX_BODY);
    char *busy =
        zsys_sprintf ("gateway:--store-busy-timeout=%d", STORE_BUSY_MS);
    const char *gateway_args [] = {max_body, "gateway:--max-images=3", busy,
                                   NULL};
    s_harness = th_harness_new ("http_errors", 1, gateway_args);

    //  400: bad JSON, bad base64, not an image, no images, too many
    EXPECT_JSON ("/api/process_document", "{\"images\": [", 400, "BAD_JSON");
    EXPECT_JSON ("/api/process_document", "\"just a string\"", 400, "BAD_JSON");
    EXPECT_JSON ("/api/process_document", "{\"images\": [\"@@@@\"]}", 400,
                 "BAD_BASE64");
    EXPECT_JSON ("/api/process_document",
                 "{\"images\": [\"aGVsbG8gd29y"
                 "bGQgdGhpcyBpcyB0ZXh0\"]}",
                 400, "UNSUPPORTED_IMAGE");
    EXPECT_JSON ("/api/process_document", "{}", 400, "NO_IMAGES");
    EXPECT_JSON ("/api/process_form", "{\"images\": []}", 400, "NO_IMAGES");
    EXPECT_JSON ("/api/process_document",
                 "{\"images\": [\"a\", \"b\", "
                 "\"c\", \"d\"]}",
                 400, "TOO_MANY_IMAGES");
    EXPECT_JSON ("/api/process_form_filling", "{\"file_lib\": {}}", 400,
                 "MISSING_FIELD");
    EXPECT_JSON ("/api/process_form_filling", "{\"form\": {\"fields\": 3}}",
                 400, "BAD_FORM");
    const char *good [] = {"invoice.png", NULL};
    char *body = th_images_body (good, "{\"priority\": 12}");
    EXPECT_JSON ("/api/process_document", body, 400, "BAD_PRIORITY");
    zstr_free (&body);
    //  Bodies of 32 KB and more are parsed on the gateway's parser thread:
    //  the same answers
    char *bad = (char *) zmalloc (50000);
    strcpy (bad, "{\"images\": [\"");
    memset (bad + strlen (bad), 'A', 40000);
    strcat (bad, "*\"]}");
    EXPECT_JSON ("/api/process_document", bad, 400, "BAD_BASE64");
    free (bad);
    const char *photo [] = {"invoice.jpg", NULL};
    body = th_images_body (photo, "{\"priority\": 12}");
    TH_CHECK (strlen (body) >= 32768, "a body for the parser thread");
    EXPECT_JSON ("/api/process_document", body, 400, "BAD_PRIORITY");
    zstr_free (&body);

    //  404, 405, 415, 413
    s_expect ("GET", "/api/task_status/6dd0391d-3900-4730-b329-4f392514e3fc",
              NULL, NULL, 0, 404, "TASK_NOT_FOUND");
    s_expect ("GET", "/api/task_status/..%2F..%2Fetc%2Fpasswd", NULL, NULL, 0,
              404, "TASK_NOT_FOUND");
    s_expect ("GET", "/api/nothing_here", NULL, NULL, 0, 404, "NOT_FOUND");
    s_expect ("GET", "/api/process_document", NULL, NULL, 0, 405,
              "METHOD_NOT_ALLOWED");
    s_expect ("POST", "/api/task_status/x", JSON, "{}", 2, 405,
              "METHOD_NOT_ALLOWED");
    s_expect ("POST", "/api/process_poem", JSON, "{}", 2, 404, "NOT_FOUND");
    s_expect ("POST", "/api/process_document", "text/plain", "hello", 5, 415,
              "UNSUPPORTED_MEDIA_TYPE");
    s_expect ("POST", "/api/process_document", NULL, "hello", 5, 415,
              "UNSUPPORTED_MEDIA_TYPE");
    char *large = (char *) malloc (MAX_BODY + 10);
    memset (large, ' ', MAX_BODY + 10);
    s_expect ("POST", "/api/process_document", JSON, large, MAX_BODY + 10, 413,
              "BODY_TOO_LARGE");
    free (large);

    //  Garbage on the socket: the server answers or closes, never dies
#define RAW(text) s_raw (text, sizeof (text) - 1)
    char *reply = RAW ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 ");
    zstr_free (&reply);
    reply = RAW ("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: "
                 "-5\r\n\r\n");
    TH_CHECK (strstr (reply, "400"), "negative length: %s", reply);
    zstr_free (&reply);
    reply = RAW ("POST /api/process_document HTTP/1.1\r\nHost: x\r\n"
                 "Content-Type: multipart/form-data\r\n"
                 "Content-Length: 10\r\n\r\n0123456789");
    TH_CHECK (strstr (reply, "400"), "multipart without boundary: %s", reply);
    zstr_free (&reply);

    //  Nothing was stored by any of the above
    ds_store_t *store = ds_store_new (th_harness_db (s_harness));
    TH_CHECK (ds_store_count (store, NULL) == 0, "nothing stored");
    ds_store_destroy (&store);

    //  And the pipeline still works end to end
    TH_CHECK (th_harness_alive (s_harness), "services alive after abuse");
    body = th_images_body (good, NULL);
    char *task_id = th_submit (s_harness, "document", body);
    zstr_free (&body);
    json_t *status = th_wait_completed (s_harness, task_id, 60000);
    json_decref (status);
    zstr_free (&task_id);
    //  and with a body the parser thread takes
    body = th_images_body (photo, NULL);
    task_id = th_submit (s_harness, "document", body);
    zstr_free (&body);
    status = th_wait_completed (s_harness, task_id, 60000);
    json_decref (status);
    zstr_free (&task_id);

    //  A truncated PNG has a valid header, so the gateway (which reads
    //  headers only) takes it; the worker cannot decode it, and the task
    //  ends in error with a message a person can act on
    const char *truncated [] = {"truncated.png", NULL};
    body = th_images_body (truncated, NULL);
    task_id = th_submit (s_harness, "document", body);
    zstr_free (&body);
    status = th_wait_terminal (s_harness, task_id, 60000);
    json_t *error = json_object_get (status, "error");
    TH_CHECK (
        streq (json_string_value (json_object_get (status, "status")), "error"),
        "truncated image ends in error");
    TH_CHECK (streq (json_string_value (json_object_get (error, "code")),
                     "OCR_FAILED"),
              "OCR_FAILED");
    TH_CHECK (strstr (json_string_value (json_object_get (error, "message")),
                      "corrupt or truncated"),
              "message");
    TH_CHECK (!json_object_get (status, "result"), "no result on error");
    json_decref (status);
    zstr_free (&task_id);

    //  Idempotency: the same key returns the same task, stores nothing new
    const char *filling = "{\"form\": {\"fields\": [\"Name\"]}}";
    char *submit_url = zsys_sprintf ("%s/api/process_form_filling",
                                     th_harness_url (s_harness));
    char *first = NULL, *second = NULL;
    TH_CHECK (th_http_header ("POST", submit_url, JSON,
                              "Idempotency-Key: app-1/order-77", filling,
                              strlen (filling), &first)
                  == 202,
              "first keyed submit");
    ds_store_t *counter = ds_store_new (th_harness_db (s_harness));
    int64_t stored = ds_store_count (counter, NULL);
    TH_CHECK (th_http_header ("POST", submit_url, JSON,
                              "Idempotency-Key: app-1/order-77", filling,
                              strlen (filling), &second)
                  == 202,
              "second keyed submit");
    TH_CHECK (streq (first, second), "same task: %s %s", first, second);
    TH_CHECK (ds_store_count (counter, NULL) == stored, "nothing new stored");
    zstr_free (&second);
    TH_CHECK (th_http_header ("POST", submit_url, JSON,
                              "Idempotency-Key: app-1/order-78", filling,
                              strlen (filling), &second)
                      == 202
                  && !streq (first, second),
              "another key, another task");
    zstr_free (&second);
    TH_CHECK (th_http_header ("POST", submit_url, JSON,
                              "Idempotency-Key: has space", filling,
                              strlen (filling), &second)
                      == 400
                  && strstr (second, "BAD_IDEMPOTENCY_KEY"),
              "bad key: %s", second);
    zstr_free (&second);
    zstr_free (&first);

    //  The database's write lock held elsewhere for longer than the
    //  gateway's --store-busy-timeout: 503 STORE_UNAVAILABLE, nothing
    //  stored; once the lock is released the same submission is taken
    stored = ds_store_count (counter, NULL);
    TH_CHECK (ds_store_begin (counter) == 0, "hold the write lock");
    int64_t locked_at = zclock_mono ();
    char *answer = NULL;
    long code = th_http_header ("POST", submit_url, JSON, NULL, filling,
                                strlen (filling), &answer);
    TH_CHECK (code == 503 && strstr (answer, "STORE_UNAVAILABLE"),
              "a locked store: %ld %s", code, answer);
    int64_t waited = zclock_mono () - locked_at;
    TH_CHECK (waited >= STORE_BUSY_MS && waited < 5000,
              "the gateway waited its busy timeout, %" PRId64 " ms, not the "
              "default of 10 s",
              waited);
    zstr_free (&answer);
    ds_store_rollback (counter);
    TH_CHECK (ds_store_count (counter, NULL) == stored,
              "nothing stored while locked");
    TH_CHECK (th_http_header ("POST", submit_url, JSON, NULL, filling,
                              strlen (filling), &answer)
                      == 202
                  && strstr (answer, "task_id"),
              "taken once the lock is released: %s", answer);
    TH_CHECK (ds_store_count (counter, NULL) == stored + 1, "and stored");
    zstr_free (&answer);
    zstr_free (&submit_url);
    ds_store_destroy (&counter);

    //  healthz
    char *url = zsys_sprintf ("%s/healthz", th_harness_url (s_harness));
    char *response = NULL;
    TH_CHECK (th_http ("GET", url, NULL, NULL, 0, &response) == 200, "healthz");
    TH_CHECK (strstr (response, "\"ok\""), "healthz body %s", response);
    zstr_free (&response);
    zstr_free (&url);

    th_harness_destroy (&s_harness);
    zstr_free (&max_body);
    zstr_free (&busy);
    printf ("test_http_errors: OK\n");
    return 0;
}
