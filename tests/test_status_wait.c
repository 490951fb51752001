/*  =========================================================================
    test_status_wait - GET /api/task_status/{id}?wait=SECONDS on the real
    binaries

    With no workers every task stays pending. A bad wait is 400 BAD_WAIT;
    an unknown task is 404 at once; a wait on a pending task ends after
    its seconds with the task still pending; requests waiting for a task
    are answered as soon as it is cancelled (the sink's STATE), and when
    the task is ended in the database without a STATE (the gateway reads
    the store again every few seconds); a stopping gateway answers those
    still waiting; status requests keep their connection alive.
    =========================================================================
*/

#include "testutil.h"

//  The long waits: the test fails if one runs out
#define WAIT_S 30
//  A STATE answers well before the gateway's 5 s re-read of the store
#define PUSHED_MS 2500
//  The re-read answers well before WAIT_S
#define RECHECKED_MS 12000

static const char *s_filling =
    "{\"form\": {\"fields\": [\"Name\"]}, \"file_lib\": {\"documents\": "
    "[{\"id\": \"d\", \"text\": \"Name: Ada\"}]}}";

//  A thread that asks for a status and reports the answer: its HTTP
//  status, the time it came (zclock_mono) and the task's status

static void
s_waiter (zsock_t *pipe, void *args)
{
    const char *url = (const char *) args;
    zsock_signal (pipe, 0);
    char *response = NULL;
    long code = th_http ("GET", url, NULL, NULL, 0, &response);
    uint64_t answered_at = (uint64_t) zclock_mono ();
    json_t *json = json_loads (response, 0, NULL);
    const char *status = json_string_value (json_object_get (json, "status"));
    zsock_send (pipe, "i8s", (int) code, answered_at, status ? status : "");
    json_decref (json);
    zstr_free (&response);
    char *command = zstr_recv (pipe);  //  $TERM
    zstr_free (&command);
}

typedef struct {
    zactor_t *actor;
    char *url;
} waiter_t;

static waiter_t *
s_waiter_new (th_harness_t *harness, const char *task_id, int wait_s)
{
    waiter_t *self = (waiter_t *) zmalloc (sizeof (waiter_t));
    self->url = zsys_sprintf ("%s/api/task_status/%s?wait=%d",
                              th_harness_url (harness), task_id, wait_s);
    self->actor = zactor_new (s_waiter, self->url);
    zsock_set_rcvtimeo (self->actor, (WAIT_S + 10) * 1000);
    return self;
}

//  The waiter's answer: returns its HTTP status, sets the time and status
static int
s_waiter_answer (waiter_t *self, int64_t *answered_at, char **status)
{
    int code = -1;
    uint64_t when = 0;
    *status = NULL;
    TH_CHECK (zsock_recv (self->actor, "i8s", &code, &when, status) == 0,
              "the waiter answered in time");
    *answered_at = (int64_t) when;
    return code;
}

static void
s_waiter_destroy (waiter_t **self_p)
{
    waiter_t *self = *self_p;
    zactor_destroy (&self->actor);
    zstr_free (&self->url);
    free (self);
    *self_p = NULL;
}

//  The gateway's count of waiting status requests (GET /healthz)
static json_int_t
s_waiting (th_harness_t *harness)
{
    char *url = zsys_sprintf ("%s/healthz", th_harness_url (harness));
    char *response = NULL;
    TH_CHECK (th_http ("GET", url, NULL, NULL, 0, &response) == 200, "healthz");
    json_t *json = json_loads (response, 0, NULL);
    json_t *waiting = json_object_get (json, "waiting");
    TH_CHECK (json_is_integer (waiting), "healthz counts waiters: %s",
              response);
    json_int_t count = json_integer_value (waiting);
    json_decref (json);
    zstr_free (&response);
    zstr_free (&url);
    return count;
}

//  Until the gateway holds that many waiting requests (10 s at most)
static void
s_await_waiting (th_harness_t *harness, json_int_t count)
{
    int64_t deadline = zclock_mono () + 10000;
    while (s_waiting (harness) != count && zclock_mono () < deadline)
        zclock_sleep (10);
    TH_CHECK (s_waiting (harness) == count, "%d requests waiting", (int) count);
}

//  GET a status with a query; returns the HTTP status, sets *text to the
//  task's status or the error code
static long
s_get (th_harness_t *harness,
       const char *task_id,
       const char *query,
       char **text)
{
    char *url = zsys_sprintf ("%s/api/task_status/%s%s",
                              th_harness_url (harness), task_id, query);
    char *response = NULL;
    long code = th_http ("GET", url, NULL, NULL, 0, &response);
    json_t *json = json_loads (response, 0, NULL);
    const char *value =
        json_string_value (json_object_get (json, "status"))
            ? json_string_value (json_object_get (json, "status"))
            : json_string_value (
                json_object_get (json_object_get (json, "error"), "code"));
    *text = strdup (value ? value : "");
    json_decref (json);
    zstr_free (&response);
    zstr_free (&url);
    return code;
}

static size_t
s_ignore (char *data, size_t size, size_t count, void *arg)
{
    (void) data;
    (void) arg;
    return size * count;
}

int
main (void)
{
    //  Three requests may wait at once (max-waiting)
    const char *args [] = {"gateway:--max-waiting=3", NULL};
    th_harness_t *harness = th_harness_new ("status_wait", 0, args);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    char *task_id = th_submit (harness, "form_filling", s_filling);

    //  A wait that is not a whole number of seconds from 0 to 60
    const char *bad [] = {"?wait=abc", "?wait=-1",  "?wait=61", "?wait=1.5",
                          "?wait=",    "?wait=100", "?wait=5s", NULL};
    for (const char **query = bad; *query; query++) {
        char *text = NULL;
        long code = s_get (harness, task_id, *query, &text);
        TH_CHECK (code == 400 && streq (text, "BAD_WAIT"), "%s: %ld %s", *query,
                  code, text);
        zstr_free (&text);
    }
    //  No wait, or wait 0: the status at once
    char *text = NULL;
    TH_CHECK (s_get (harness, task_id, "?wait=0", &text) == 200
                  && streq (text, "pending"),
              "wait=0: %s", text);
    zstr_free (&text);

    //  An unknown task does not wait
    int64_t start = zclock_mono ();
    TH_CHECK (s_get (harness, "6dd0391d-3900-4730-b329-4f392514e3fc",
                     "?wait=30", &text)
                      == 404
                  && streq (text, "TASK_NOT_FOUND"),
              "unknown task: %s", text);
    zstr_free (&text);
    TH_CHECK (zclock_mono () - start < 5000, "404 at once");

    //  A wait that runs out answers the status as it is
    start = zclock_mono ();
    TH_CHECK (s_get (harness, task_id, "?wait=1", &text) == 200
                  && streq (text, "pending"),
              "wait=1: %s", text);
    zstr_free (&text);
    int64_t took = zclock_mono () - start;
    TH_CHECK (took >= 990 && took < 5000, "wait=1 took %" PRId64 " ms", took);
    TH_CHECK (s_waiting (harness) == 0, "no request left waiting");

    //  Status requests keep their connection: the second one reuses it
    CURL *curl = curl_easy_init ();
    char *url = zsys_sprintf ("%s/api/task_status/%s", th_harness_url (harness),
                              task_id);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_ignore);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 10L);
    long connects = -1;
    TH_CHECK (curl_easy_perform (curl) == CURLE_OK, "first GET");
    TH_CHECK (curl_easy_perform (curl) == CURLE_OK, "second GET");
    curl_easy_getinfo (curl, CURLINFO_NUM_CONNECTS, &connects);
    TH_CHECK (connects == 0, "the second GET opened %ld connections", connects);
    curl_easy_cleanup (curl);
    zstr_free (&url);

    //  Three requests wait for one task; cancelling it answers all three
    //  at once, each with the task cancelled
    waiter_t *waiters [3];
    for (int index = 0; index < 3; index++)
        waiters [index] = s_waiter_new (harness, task_id, WAIT_S);
    s_await_waiting (harness, 3);
    //  A fourth, past max-waiting, is answered at once with the task as
    //  it is, as a wait that ran out, with Retry-After; the three still
    //  wait
    char *full_url = zsys_sprintf ("%s/api/task_status/%s?wait=30",
                                   th_harness_url (harness), task_id);
    char *full_text = NULL, *full_headers = NULL;
    int64_t asked_at = zclock_mono ();
    long full_code = th_http_answer ("GET", full_url, NULL, NULL, NULL, 0,
                                     &full_text, &full_headers);
    TH_CHECK (zclock_mono () - asked_at < 5000,
              "a wait past max-waiting is answered at once");
    TH_CHECK (full_code == 200 && strstr (full_headers, "Retry-After: 1\r\n"),
              "a wait past max-waiting: %ld, with Retry-After: 1: %s",
              full_code, full_headers);
    TH_CHECK (strstr (full_text, "\"status\":\"pending\""), "answered %s",
              full_text);
    TH_CHECK (s_waiting (harness) == 3, "three still waiting");
    zstr_free (&full_text);
    zstr_free (&full_headers);
    zstr_free (&full_url);
    char *cancel =
        zsys_sprintf ("%s/api/tasks/%s", th_harness_url (harness), task_id);
    char *response = NULL;
    TH_CHECK (th_http ("DELETE", cancel, NULL, NULL, 0, &response) == 200,
              "cancel: %s", response);
    zstr_free (&response);
    zstr_free (&cancel);
    int64_t cancelled_at = zclock_mono ();
    for (int index = 0; index < 3; index++) {
        int64_t answered_at;
        char *status;
        int code = s_waiter_answer (waiters [index], &answered_at, &status);
        TH_CHECK (code == 200 && streq (status, "cancelled"),
                  "waiter %d: %d %s", index, code, status);
        TH_CHECK (answered_at - cancelled_at < PUSHED_MS,
                  "waiter %d answered %" PRId64 " ms after the cancel", index,
                  answered_at - cancelled_at);
        zstr_free (&status);
        s_waiter_destroy (&waiters [index]);
    }
    TH_CHECK (s_waiting (harness) == 0, "no request left waiting");

    //  A task ended in the database with no STATE for it (as when the
    //  STATE went out before the subscription reached the sink): the
    //  gateway's re-read of the store answers
    char *quiet = th_submit (harness, "form_filling", s_filling);
    waiter_t *waiter = s_waiter_new (harness, quiet, WAIT_S);
    s_await_waiting (harness, 1);
    ds_store_t *store = ds_store_new (th_harness_db (harness));
    TH_CHECK (ds_store_cancel (store, quiet) == 1, "cancelled in the store");
    ds_store_destroy (&store);
    int64_t ended_at = zclock_mono ();
    int64_t answered_at;
    char *status;
    int code = s_waiter_answer (waiter, &answered_at, &status);
    TH_CHECK (code == 200 && streq (status, "cancelled"), "re-read: %d %s",
              code, status);
    TH_CHECK (answered_at - ended_at < RECHECKED_MS,
              "re-read answered %" PRId64 " ms after the end",
              answered_at - ended_at);
    zstr_free (&status);
    s_waiter_destroy (&waiter);

    //  SIGTERM: the gateway answers a waiting request before it exits
    char *held = th_submit (harness, "form_filling", s_filling);
    waiter = s_waiter_new (harness, held, WAIT_S);
    s_await_waiting (harness, 1);
    kill (ds_launcher_pid (launcher, "gateway"), SIGTERM);
    code = s_waiter_answer (waiter, &answered_at, &status);
    TH_CHECK (code == 200 && streq (status, "pending"),
              "answered by a stopping gateway: %d %s", code, status);
    TH_CHECK (ds_launcher_wait (launcher, "gateway", 30000) == 0,
              "the gateway exits 0 with a request waiting");
    zstr_free (&status);
    s_waiter_destroy (&waiter);

    th_harness_destroy (&harness);
    zstr_free (&held);
    zstr_free (&quiet);
    zstr_free (&task_id);
    printf ("test_status_wait: OK\n");
    return 0;
}
