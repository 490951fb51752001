/*  =========================================================================
    test_python_worker - a worker written in Python (clients/python/
    worker_example.py) replaces the C workers: every task completes through
    it; killed mid-task, its task is redelivered to a C worker.
    =========================================================================
*/

#include "testutil.h"

#define TASKS 10


static char *
s_submit (th_harness_t *harness, int task_nbr)
{
    char *body = zsys_sprintf (
        "{\"form\": {\"fields\": [\"Code\"]}, \"file_lib\": {\"documents\": "
        "[{\"id\": \"d\", \"kv\": {\"Code\": \"P%d\"}}]}}",
        task_nbr);
    char *task_id = th_submit (harness, "form_filling", body);
    zstr_free (&body);
    return task_id;
}

int
main (void)
{
    if (system ("/usr/bin/python3 -c 'import zmq, msgpack' 2>/dev/null"))
        return 77;
    //  No C worker: the Python worker does everything
    const char *args [] = {"ventilator:--lease-timeout=2000", NULL};
    th_harness_t *harness = th_harness_new ("python_worker", 0, args);
    pid_t python = th_python_worker (harness, "python-1",
                                     (const char *[]){"--work-ms", "0", NULL});
    char *task_ids [TASKS];
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++)
        task_ids [task_nbr] = s_submit (harness, task_nbr);
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++) {
        json_t *status =
            th_wait_completed (harness, task_ids [task_nbr], 30000);
        TH_CHECK (streq (json_string_value (json_object_get (status, "worker")),
                         "python-1"),
                  "by python-1");
        json_t *value = json_object_get (
            json_object_get (
                json_object_get (json_object_get (status, "result"), "fields"),
                "Code"),
            "value");
        char expected [16];
        snprintf (expected, sizeof (expected), "P%d", task_nbr);
        TH_CHECK (streq (json_string_value (value), expected), "its value");
        json_decref (status);
        zstr_free (&task_ids [task_nbr]);
    }
    kill (python, SIGTERM);
    waitpid (python, NULL, 0);

    //  A slow Python worker is killed mid-task; a C worker finishes it
    python = th_python_worker (harness, "python-2",
                               (const char *[]){"--work-ms", "20000", NULL});
    char *task_id = s_submit (harness, 99);
    int64_t deadline = zclock_mono () + 20000;
    json_t *status = NULL;
    while (zclock_mono () < deadline) {
        status = th_wait_terminal (harness, task_id, 1);
        if (status)
            break;
        char *url = zsys_sprintf ("%s/api/task_status/%s",
                                  th_harness_url (harness), task_id);
        char *response = NULL;
        th_http ("GET", url, NULL, NULL, 0, &response);
        bool running = strstr (response, "\"processing\"")
                       && strstr (response, "python-2");
        zstr_free (&response);
        zstr_free (&url);
        if (running)
            break;
        zclock_sleep (50);
    }
    TH_CHECK (!status, "the slow task is still running");
    kill (python, SIGKILL);
    waitpid (python, NULL, 0);
    //  A C worker joins; the lease runs out and the task moves to it
    ds_launcher_t *launcher = th_harness_launcher (harness);
    TH_CHECK (ds_launcher_start_worker (launcher) == 0, "C worker started");
    status = th_wait_completed (harness, task_id, 30000);
    TH_CHECK (json_integer_value (json_object_get (status, "attempts")) == 2,
              "on its second attempt");
    TH_CHECK (!strstr (json_string_value (json_object_get (status, "worker")),
                       "python"),
              "by a C worker");
    json_decref (status);
    zstr_free (&task_id);
    th_harness_destroy (&harness);
    printf ("test_python_worker: OK\n");
    return 0;
}
