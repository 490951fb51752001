/*  =========================================================================
    test_kill - the kill -9 battery: nothing accepted is lost

    The real binaries run with the mock LLM slow enough that tasks are in
    flight. While a few hundred tasks run, SIGKILL hits, one after another:
    a worker waiting on the LLM, a worker in the middle of OCR, the
    ventilator, the sink and the gateway; each is restarted. Then, straight
    from SQLite: every task that got a 202 is in exactly one terminal state,
    none is left pending or processing, every completed result is the right
    one, and the redeliveries cover the tasks the killed workers held.

    DS_KILL_TASKS sets the number of tasks (default 200; docs/RELIABILITY.md
    shows a run with 5000).
    =========================================================================
*/

#include "testutil.h"

#define DEFAULT_TASKS 200
#define DOCUMENT_EVERY 10  //  one task in ten is a two-page document
#define LLM_LATENCY "600"  //  ms per LLM call
#define SETTLE_TIMEOUT_MS 300000

#define MAX_EXTRA 20  //  tasks submitted to catch a worker busy

static th_harness_t *s_harness;
static sqlite3 *s_db;
static char **s_task_ids;  //  per task number, the accepted task's id
static int s_tasks;        //  tasks of the run (DS_KILL_TASKS)
static int s_accepted;     //  tasks accepted, extra ones included
static int s_extra;        //  extra tasks submitted

//  One integer from a query
static int64_t
s_query (const char *sql)
{
    sqlite3_stmt *stmt;
    TH_CHECK (sqlite3_prepare_v2 (s_db, sql, -1, &stmt, NULL) == SQLITE_OK,
              "%s: %s", sql, sqlite3_errmsg (s_db));
    int64_t value = -1;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_BUSY)
        zclock_sleep (10);
    if (rc == SQLITE_ROW)
        value = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

//  Submit task number task_nbr; returns its id, or NULL if not accepted
static char *
s_submit (int task_nbr)
{
    char *body;
    const char *type;
    if (task_nbr % DOCUMENT_EVERY == 0) {
        const char *pages [] = {"invoice.png", "notes.png", NULL};
        body = th_images_body (pages, NULL);
        type = "document";
    }
    else {
        body = zsys_sprintf (
            "{\"form\": {\"fields\": [\"Code\"]}, \"file_lib\": {\"documents\":"
            " [{\"id\": \"d%d\", \"text\": \"Code: C%d\\nNote: "
            "MOCK:slow=" LLM_LATENCY "#k%d\"}]}}",
            task_nbr, task_nbr, task_nbr);
        type = "form_filling";
    }
    char *url =
        zsys_sprintf ("%s/api/process_%s", th_harness_url (s_harness), type);
    char *response = NULL;
    long code = th_http ("POST", url, "application/json", body, strlen (body),
                         &response);
    char *task_id = NULL;
    if (code == 202) {
        json_t *json = json_loads (response, 0, NULL);
        task_id =
            strdup (json_string_value (json_object_get (json, "task_id")));
        json_decref (json);
    }
    zstr_free (&response);
    zstr_free (&url);
    zstr_free (&body);
    return task_id;
}

//  Worker name in events: HOST-PID
static char *
s_worker_id (pid_t pid)
{
    char host [256] = "worker";
    gethostname (host, sizeof (host) - 1);
    return zsys_sprintf ("%s-%d", host, (int) pid);
}

//  Wait until a task of the type is processing on the worker; returns how
//  many tasks that worker holds then. When no task of the type is left to
//  run (the others ran them all meanwhile), one more is submitted: the
//  moment to kill must come however fast the pipeline is
static int64_t
s_await_busy (const char *worker, const char *type)
{
    ds_launcher_t *launcher = th_harness_launcher (s_harness);
    char *id = s_worker_id (ds_launcher_pid (launcher, worker));
    char *sql = zsys_sprintf ("SELECT COUNT (*) FROM tasks WHERE status = "
                              "'processing' AND worker = '%s' AND type = '%s'",
                              id, type);
    char *open_sql =
        zsys_sprintf ("SELECT COUNT (*) FROM tasks WHERE status IN ('pending', "
                      "'processing') AND type = '%s'",
                      type);
    int64_t deadline = zclock_mono () + 60000;
    while (s_query (sql) < 1 && zclock_mono () < deadline) {
        if (s_query (open_sql) == 0 && s_extra < MAX_EXTRA) {
            //  Task numbers past the run's, of the type wanted
            int base = (s_tasks + DOCUMENT_EVERY - 1) / DOCUMENT_EVERY
                       * DOCUMENT_EVERY;
            int task_nbr = base + s_extra * DOCUMENT_EVERY
                           + (streq (type, "document") ? 0 : 1);
            s_task_ids [task_nbr] = s_submit (task_nbr);
            TH_CHECK (s_task_ids [task_nbr], "extra task %d accepted",
                      task_nbr);
            s_accepted++;
            s_extra++;
            printf ("test_kill: no %s task left to run, submitted one more\n",
                    type);
        }
        zclock_sleep (20);
    }
    zstr_free (&open_sql);
    TH_CHECK (s_query (sql) >= 1, "no %s task on %s", type, worker);
    zstr_free (&sql);
    sql = zsys_sprintf ("SELECT COUNT (*) FROM tasks WHERE status = "
                        "'processing' AND worker = '%s'",
                        id);
    int64_t held = s_query (sql);
    zstr_free (&sql);
    zstr_free (&id);
    return held;
}

//  SIGKILL a service, then start it again
static void
s_kill (const char *name)
{
    ds_launcher_t *launcher = th_harness_launcher (s_harness);
    pid_t pid = ds_launcher_pid (launcher, name);
    TH_CHECK (pid > 0, "%s is running", name);
    TH_CHECK (kill (pid, SIGKILL) == 0, "kill %s", name);
    TH_CHECK (ds_launcher_wait (launcher, name, 10000) == 128 + SIGKILL,
              "%s died of SIGKILL", name);
    TH_CHECK (ds_launcher_restart (launcher, name) == 0, "restart %s", name);
    printf ("test_kill: killed and restarted %s\n", name);
}

//  Wait until completed tasks reach a count
static void
s_await_completed (int64_t count)
{
    int64_t deadline = zclock_mono () + SETTLE_TIMEOUT_MS;
    while (s_query ("SELECT COUNT (*) FROM tasks WHERE status = 'completed'")
               < count
           && zclock_mono () < deadline)
        zclock_sleep (50);
}

int
main (void)
{
    int tasks = getenv ("DS_KILL_TASKS") ? atoi (getenv ("DS_KILL_TASKS"))
                                         : DEFAULT_TASKS;
    TH_CHECK (tasks >= 20, "DS_KILL_TASKS must be 20 or more");
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *mock_dir = zsys_sprintf ("%s/kill-mock.%d", cwd, (int) getpid ());
    pid_t mock_pid;
    char *mock = th_mock_start (mock_dir, 0, "", &mock_pid);
    char *llm_arg = zsys_sprintf ("worker:--llm-url=%s", mock);
    char *max_queue =
        zsys_sprintf ("gateway:--max-queue=%d", tasks + MAX_EXTRA + 1);
    const char *args [] = {llm_arg, max_queue, "worker:--llm-max-inflight=8",
                           "ventilator:--pickup-timeout=4000", NULL};
    s_harness = th_harness_new ("kill", 2, args);
    TH_CHECK (sqlite3_open (th_harness_db (s_harness), &s_db) == SQLITE_OK,
              "open db");
    sqlite3_busy_timeout (s_db, 10000);

    s_tasks = tasks;
    int slots = tasks + (MAX_EXTRA + 1) * DOCUMENT_EVERY + 2;
    s_task_ids = (char **) zmalloc (slots * sizeof (char *));
    int half = tasks / 2;
    for (int task_nbr = 0; task_nbr < half; task_nbr++)
        if ((s_task_ids [task_nbr] = s_submit (task_nbr)))
            s_accepted++;
    TH_CHECK (s_accepted == half, "all of the first half accepted");

    //  The kills, each when the pipeline has work of the right kind
    int64_t held_by_killed = s_await_busy ("worker-1", "form_filling");
    s_kill ("worker-1");
    held_by_killed += s_await_busy ("worker-2", "document");
    s_kill ("worker-2");
    s_await_completed (half / 4);
    s_kill ("ventilator");
    s_await_completed (half / 2);
    s_kill ("sink");
    s_kill ("gateway");
    for (int task_nbr = half; task_nbr < tasks; task_nbr++)
        if ((s_task_ids [task_nbr] = s_submit (task_nbr)))
            s_accepted++;

    //  Everything settles
    int64_t deadline = zclock_mono () + SETTLE_TIMEOUT_MS;
    while (s_query ("SELECT COUNT (*) FROM tasks WHERE status IN "
                    "('pending', 'processing')")
               > 0
           && zclock_mono () < deadline)
        zclock_sleep (100);

    //  The invariant, straight from SQLite
    int64_t stored = s_query ("SELECT COUNT (*) FROM tasks");
    int64_t open = s_query ("SELECT COUNT (*) FROM tasks WHERE status IN "
                            "('pending', 'processing')");
    int64_t completed =
        s_query ("SELECT COUNT (*) FROM tasks WHERE status = 'completed'");
    int64_t failed =
        s_query ("SELECT COUNT (*) FROM tasks WHERE status = 'error'");
    int64_t redeliveries =
        s_query ("SELECT COALESCE (SUM (attempts - 1), 0) FROM tasks");
    printf ("test_kill: accepted=%d stored=%" PRId64 " completed=%" PRId64
            " error=%" PRId64 " open=%" PRId64 " redeliveries=%" PRId64
            " held-by-killed-workers=%" PRId64 "\n",
            s_accepted, stored, completed, failed, open, redeliveries,
            held_by_killed);
    TH_CHECK (stored == s_accepted, "every accepted task is stored");
    TH_CHECK (open == 0, "no task left pending or processing");
    TH_CHECK (completed + failed == s_accepted,
              "each task in exactly one terminal state");
    TH_CHECK (s_query ("SELECT COUNT (*) FROM tasks WHERE status = 'error' "
                       "AND error_code NOT IN ('WORKER_LOST', 'TIMEOUT')")
                  == 0,
              "errors are only lost workers or timeouts");
    TH_CHECK (failed * 100 <= s_accepted, "at most 1%% in error");
    TH_CHECK (redeliveries >= held_by_killed,
              "the tasks the killed workers held were redelivered");
    TH_CHECK (s_query ("SELECT MAX (attempts) FROM tasks") <= 3,
              "no task dispatched more than max-attempts times");

    //  Every completed result is the right one: exactly-once effect
    json_t *stats = th_mock_stats (mock);
    json_t *markers = json_object_get (stats, "markers");
    int executed_twice = 0;
    for (int task_nbr = 0; task_nbr < slots; task_nbr++) {
        if (!s_task_ids [task_nbr])
            continue;
        json_t *status =
            th_wait_terminal (s_harness, s_task_ids [task_nbr], 1000);
        TH_CHECK (status, "task %d ended", task_nbr);
        if (streq (json_string_value (json_object_get (status, "status")),
                   "completed")) {
            json_t *result = json_object_get (status, "result");
            if (task_nbr % DOCUMENT_EVERY == 0)
                TH_CHECK (strstr (json_string_value (json_object_get (
                                      json_array_get (
                                          json_object_get (result, "pages"), 0),
                                      "text")),
                                  "INV-2041"),
                          "task %d: its page text", task_nbr);
            else {
                char expected [16], marker [32];
                snprintf (expected, sizeof (expected), "C%d", task_nbr);
                snprintf (marker, sizeof (marker), "slow=%s#k%d", LLM_LATENCY,
                          task_nbr);
                json_t *value = json_object_get (
                    json_object_get (json_object_get (result, "fields"),
                                     "Code"),
                    "value");
                TH_CHECK (streq (json_string_value (value), expected),
                          "task %d: its own value", task_nbr);
                json_int_t calls =
                    json_integer_value (json_object_get (markers, marker));
                TH_CHECK (calls >= 1, "task %d ran", task_nbr);
                if (calls > 1)
                    executed_twice++;
            }
        }
        json_decref (status);
        zstr_free (&s_task_ids [task_nbr]);
    }
    printf ("test_kill: %d tasks ran more than once (at-least-once), each "
            "recorded once\n",
            executed_twice);
    json_decref (stats);

    sqlite3_close (s_db);
    th_harness_destroy (&s_harness);
    th_mock_stop (mock_pid);
    free (s_task_ids);
    zstr_free (&llm_arg);
    zstr_free (&max_queue);
    zstr_free (&mock);
    zstr_free (&mock_dir);
    printf ("test_kill: OK\n");
    return 0;
}
