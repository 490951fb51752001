/*  =========================================================================
    testutil - helpers for the integration tests

    A harness starts the real service binaries (from DS_BIN_DIR) as
    processes on loopback with ephemeral ports and a data directory of
    its own under the test's build directory, and waits for each one's
    ready file: a handshake, not a sleep. Assertion helpers print what
    failed and why.
    =========================================================================
*/

#ifndef TESTUTIL_H_INCLUDED
#define TESTUTIL_H_INCLUDED

#include "docusnap.h"
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>

typedef struct _th_harness_t th_harness_t;

//  Check a condition; on failure print where and why, and exit 1
#define TH_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf (stderr, __VA_ARGS__);                                     \
            fprintf (stderr, "\n");                                            \
            exit (1);                                                          \
        }                                                                      \
    } while (0)

//  Start sink, ventilator, gateway and `workers` workers for test `name`.
//  args is a NULL-terminated list of extra flags, each "ROLE:--flag=value"
//  with ROLE sink, ventilator, gateway, worker, store or all (or NULL). Exits 77 (skip) if the binaries are missing.
th_harness_t *th_harness_new (const char *name, int workers, const char **args);

//  Stop every service with SIGTERM; checks each exits 0 within 30 s.
void th_harness_destroy (th_harness_t **self_p);

//  Base URL of the gateway, e.g. "http://127.0.0.1:41234"
const char *th_harness_url (th_harness_t *self);

//  Path of the SQLite database
const char *th_harness_db (th_harness_t *self);

//  True if every service process is still running
bool th_harness_alive (th_harness_t *self);

//  An HTTP request. content_type may be NULL. Returns the status (0 on a
//  transport error); *response is set to a new string the caller frees.
long th_http (const char *method,
              const char *url,
              const char *content_type,
              const void *body,
              size_t size,
              char **response);

//  The same with one extra header line ("Name: value", or NULL)
long th_http_header (const char *method,
                     const char *url,
                     const char *content_type,
                     const char *header,
                     const void *body,
                     size_t size,
                     char **response);

//  The same, also setting *response_headers (unless NULL) to the answer's
//  header lines ("Name: value\r\n" each), a new string the caller frees
long th_http_answer (const char *method,
                     const char *url,
                     const char *content_type,
                     const char *header,
                     const void *body,
                     size_t size,
                     char **response,
                     char **response_headers);

//  POST multipart/form-data with the given files as "images" parts and
//  optional extra text fields ("name=value", NULL-terminated).
long th_http_multipart (const char *url,
                        const char **paths,
                        const char **fields,
                        char **response);

//  Wait until the task reaches a terminal state or timeout_ms passes
//  (status requests that wait, ?wait=); returns the status JSON (caller
//  decrefs), or NULL on timeout.
json_t *
th_wait_terminal (th_harness_t *self, const char *task_id, int64_t timeout_ms);

//  th_wait_terminal, and check the task ended completed (exits with its
//  state if not); returns the status JSON, caller decrefs.
json_t *
th_wait_completed (th_harness_t *self, const char *task_id, int64_t timeout_ms);

//  Read a fixture file (DS_FIXTURES/name) into a new chunk; exits on error.
zchunk_t *th_fixture (const char *name);

//  Path of a fixture; caller frees.
char *th_fixture_path (const char *name);

//  A JSON body {"images": [<base64 of fixtures>...]} plus extra members
//  (a JSON object text or NULL); caller frees.
char *th_images_body (const char **fixtures, const char *extra);

//  Submit a JSON body to /api/process_<type>; checks the answer is 202
//  with a task id and Location, returns the task id (caller frees).
char *th_submit (th_harness_t *self, const char *type, const char *body);

//  Check a result object against the schema of its task type
//  (docs/RESULTS.md); exits with the reason if it does not match.
void th_check_result (const char *type, json_t *result);

//  The launcher that runs the services (to kill or restart one)
ds_launcher_t *th_harness_launcher (th_harness_t *self);

//  The harness's own directory (logs, database, ready files)
const char *th_harness_dir (th_harness_t *self);

//  Start tests/mock_llm.py with the given reply latency and API key ("" for
//  none). Returns its base URL ("http://127.0.0.1:PORT/v1"), caller frees;
//  sets *pid. Exits 77 if python3 is missing.
char *th_mock_start (const char *dir,
                     int latency_ms,
                     const char *api_key,
                     pid_t *pid);

//  The mock's counters (GET /_mock/stats); caller decrefs.
json_t *th_mock_stats (const char *url);

//  Stop the mock
void th_mock_stop (pid_t pid);

//  Start clients/python/worker_example.py against the harness's services
//  as worker `name`, with extra arguments (NULL-terminated list, or NULL).
//  Returns its pid.
pid_t
th_python_worker (th_harness_t *self, const char *name, const char **extra);

//  True if the file contains text
bool th_file_contains (const char *path, const char *text);

//  True once the file contains text (a log line a service writes when it
//  gets to it), false if it does not within timeout_ms
bool th_wait_file_contains (const char *path, const char *text, int timeout_ms);

#endif
