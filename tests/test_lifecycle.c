/*  =========================================================================
    test_lifecycle - backpressure, cancellation, expiry, task deadline
    and a worker's graceful stop, on the real binaries
    =========================================================================
*/

#include "testutil.h"

#define MAX_QUEUE 3

static const char *s_filling =
    "{\"form\": {\"fields\": [\"Name\"]}, \"file_lib\": {\"documents\": "
    "[{\"id\": \"d\", \"text\": \"Name: Ada %s\"}]}}";

//  Submit a form filling task with a mock marker (or any text)
static char *
s_submit (th_harness_t *harness, const char *marker)
{
    char *body = zsys_sprintf (s_filling, marker);
    char *task_id = th_submit (harness, "form_filling", body);
    zstr_free (&body);
    return task_id;
}

//  A request's status and error code
static long
s_request (th_harness_t *harness,
           const char *method,
           const char *path,
           char **code)
{
    char *url = zsys_sprintf ("%s%s", th_harness_url (harness), path);
    char *response = NULL;
    long status = th_http (method, url, NULL, NULL, 0, &response);
    json_t *json = json_loads (response, 0, NULL);
    const char *error = json_string_value (
        json_object_get (json_object_get (json, "error"), "code"));
    *code = strdup (error ? error : "");
    json_decref (json);
    zstr_free (&response);
    zstr_free (&url);
    return status;
}

//  The task's status text, or "" if it is gone
static char *
s_status (th_harness_t *harness, const char *task_id)
{
    char *url = zsys_sprintf ("%s/api/task_status/%s", th_harness_url (harness),
                              task_id);
    char *response = NULL;
    long code = th_http ("GET", url, NULL, NULL, 0, &response);
    json_t *json = json_loads (response, 0, NULL);
    const char *status = json_string_value (json_object_get (json, "status"));
    char *copy = strdup (code == 200 && status ? status : "");
    json_decref (json);
    zstr_free (&response);
    zstr_free (&url);
    return copy;
}

//  Wait until the task's status is the given one ("" for gone)
static void
s_await (th_harness_t *harness, const char *task_id, const char *wanted)
{
    int64_t deadline = zclock_mono () + 30000;
    char *status = NULL;
    while (zclock_mono () < deadline) {
        zstr_free (&status);
        status = s_status (harness, task_id);
        if (streq (status, wanted))
            break;
        zclock_sleep (50);
    }
    TH_CHECK (streq (status, wanted), "task %s is '%s', wanted '%s'", task_id,
              status, wanted);
    zstr_free (&status);
}

int
main (void)
{
    //  1. No workers: tasks stay pending; the queue bound holds; cancel;
    //     an ended task expires after the retention period
    char *max_queue = zsys_sprintf ("gateway:--max-queue=%d", MAX_QUEUE);
    const char *queue_args [] = {max_queue, "sink:--retention=1", NULL};
    th_harness_t *harness = th_harness_new ("lifecycle-queue", 0, queue_args);
    char *task_ids [MAX_QUEUE];
    for (int task_nbr = 0; task_nbr < MAX_QUEUE; task_nbr++)
        task_ids [task_nbr] = s_submit (harness, "x");
    char *url =
        zsys_sprintf ("%s/api/process_form_filling", th_harness_url (harness));
    char *body = zsys_sprintf (s_filling, "x");
    char *response = NULL;
    long code = th_http ("POST", url, "application/json", body, strlen (body),
                         &response);
    TH_CHECK (code == 503 && strstr (response, "QUEUE_FULL"),
              "queue full: %ld %s", code, response);
    zstr_free (&response);
    ds_store_t *store = ds_store_new (th_harness_db (harness));
    TH_CHECK (ds_store_count (store, NULL) == MAX_QUEUE, "nothing stored");

    char *path = zsys_sprintf ("/api/tasks/%s", task_ids [0]);
    char *error = NULL;
    TH_CHECK (s_request (harness, "DELETE", path, &error) == 200, "cancel");
    zstr_free (&error);
    TH_CHECK (s_request (harness, "DELETE", path, &error) == 409
                  && streq (error, "TASK_ENDED"),
              "cancel twice: %s", error);
    zstr_free (&error);
    TH_CHECK (s_request (harness, "GET", path, &error) == 200, "GET task");
    zstr_free (&error);
    TH_CHECK (s_request (harness, "DELETE",
                         "/api/tasks/6dd0391d-3900-4730-b329-4f392514e3fc",
                         &error)
                      == 404
                  && streq (error, "TASK_NOT_FOUND"),
              "cancel unknown");
    zstr_free (&error);
    TH_CHECK (s_request (harness, "PUT", path, &error) == 405, "PUT");
    zstr_free (&error);
    zstr_free (&path);
    //  Expired after a second, with its images; the queue has room again
    s_await (harness, task_ids [0], "");
    code = th_http ("POST", url, "application/json", body, strlen (body),
                    &response);
    TH_CHECK (code == 202, "room again after a cancel: %ld", code);
    zstr_free (&response);
    ds_store_destroy (&store);
    th_harness_destroy (&harness);
    for (int task_nbr = 0; task_nbr < MAX_QUEUE; task_nbr++)
        zstr_free (&task_ids [task_nbr]);
    zstr_free (&body);
    zstr_free (&url);
    zstr_free (&max_queue);

    //  2. One worker and a slow LLM: cancel a running task, time one out,
    //     and stop the worker gracefully while it holds a task
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *mock_dir =
        zsys_sprintf ("%s/lifecycle-mock.%d", cwd, (int) getpid ());
    pid_t mock_pid;
    char *mock = th_mock_start (mock_dir, 0, "", &mock_pid);
    char *llm_arg = zsys_sprintf ("worker:--llm-url=%s", mock);
    const char *worker_args [] = {llm_arg, "ventilator:--task-timeout=3000",
                                  NULL};
    harness = th_harness_new ("lifecycle-worker", 1, worker_args);
    ds_launcher_t *launcher = th_harness_launcher (harness);

    //  Cancel while the LLM call is in flight: the worker drops the task
    char *running = s_submit (harness, "MOCK:slow=2500#cancel");
    s_await (harness, running, "processing");
    path = zsys_sprintf ("/api/tasks/%s", running);
    TH_CHECK (s_request (harness, "DELETE", path, &error) == 200,
              "cancel running");
    zstr_free (&error);
    zstr_free (&path);
    const char *worker_log = ds_launcher_log (launcher, "worker-1");
    TH_CHECK (th_wait_file_contains (worker_log, "TASK-ENDED-ELSEWHERE", 10000),
              "the worker abandoned the cancelled task");

    //  A task longer than task-timeout ends in error TIMEOUT
    char *slow = s_submit (harness, "MOCK:slow=8000#timeout");
    json_t *status = th_wait_terminal (harness, slow, 30000);
    TH_CHECK (status, "timeout task ended");
    json_t *task_error = json_object_get (status, "error");
    TH_CHECK (
        streq (json_string_value (json_object_get (status, "status")), "error")
            && streq (json_string_value (json_object_get (task_error, "code")),
                      "TIMEOUT"),
        "TIMEOUT");
    json_decref (status);
    char *state = s_status (harness, running);
    TH_CHECK (streq (state, "cancelled"), "cancelled stays cancelled: %s",
              state);
    zstr_free (&state);

    //  SIGTERM with a task in hand: the worker finishes it, then exits 0
    char *held = s_submit (harness, "MOCK:slow=1500#drain");
    s_await (harness, held, "processing");
    kill (ds_launcher_pid (launcher, "worker-1"), SIGTERM);
    TH_CHECK (ds_launcher_wait (launcher, "worker-1", 30000) == 0,
              "the worker stopped cleanly");
    status = th_wait_completed (harness, held, 10000);
    TH_CHECK (json_integer_value (json_object_get (status, "attempts")) == 1,
              "no redelivery needed");
    json_decref (status);

    th_harness_destroy (&harness);
    th_mock_stop (mock_pid);
    zstr_free (&held);
    zstr_free (&slow);
    zstr_free (&running);
    zstr_free (&llm_arg);
    zstr_free (&mock);
    zstr_free (&mock_dir);
    printf ("test_lifecycle: OK\n");
    return 0;
}
