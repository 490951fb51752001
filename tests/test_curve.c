/*  =========================================================================
    test_curve - CURVE on every socket: keys from `docusnap keygen`, the C
    services and a C worker talk over CURVE; an admitted Python client and
    worker are served; a client or worker with a key the services do not
    admit, or with no key, gets nothing.
    =========================================================================
*/

#include "testutil.h"

//  Run a command; returns its exit status
static int
s_run (const char *command)
{
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}


static const char *
s_state (json_t *status)
{
    return status ? json_string_value (json_object_get (status, "status"))
                  : "(none)";
}

int
main (void)
{
    if (system ("/usr/bin/python3 -c 'import zmq, zmq.auth, msgpack' "
                "2>/dev/null"))
        return 77;
    const char *bin_dir = getenv ("DS_BIN_DIR");
    const char *source = getenv ("DS_SOURCE_DIR");
    const char *fixtures = getenv ("DS_FIXTURES");
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *keys = zsys_sprintf ("%s/curve.%d/keys", cwd, (int) getpid ());
    char *strangers =
        zsys_sprintf ("%s/curve.%d/strangers", cwd, (int) getpid ());

    //  docusnap keygen: the services' keys, an admitted client and worker;
    //  a second, separate set makes keys nobody admits
    char *command = zsys_sprintf ("%s/docusnap keygen %s alice worker1",
                                  bin_dir ? bin_dir : ".", keys);
    TH_CHECK (s_run (command) == 0, "%s", command);
    zstr_free (&command);
    command = zsys_sprintf ("%s/docusnap keygen %s alice >/dev/null 2>&1",
                            bin_dir ? bin_dir : ".", keys);
    TH_CHECK (s_run (command) == 1, "keygen does not overwrite a key");
    zstr_free (&command);
    command = zsys_sprintf ("%s/docusnap keygen %s mallory",
                            bin_dir ? bin_dir : ".", strangers);
    TH_CHECK (s_run (command) == 0, "%s", command);
    zstr_free (&command);
    const char *expected [] = {"server.cert",
                               "server.cert_secret",
                               "alice.cert_secret",
                               "worker1.cert_secret",
                               "authorized/server.cert",
                               "authorized/alice.cert",
                               "authorized/worker1.cert",
                               NULL};
    for (const char **file = expected; *file; file++) {
        char *path = zsys_sprintf ("%s/%s", keys, *file);
        TH_CHECK (zsys_file_exists (path), "keygen wrote %s", path);
        if (strstr (*file, "_secret")) {
            struct stat info;
            TH_CHECK (stat (path, &info) == 0 && (info.st_mode & 077) == 0,
                      "%s is private", path);
        }
        else
            TH_CHECK (!th_file_contains (path, "secret-key"),
                      "%s holds no secret key", path);
        zstr_free (&path);
    }

    //  The pipeline with CURVE on every socket
    char *server_arg =
        zsys_sprintf ("all:--curve-server-cert=%s/server.cert", keys);
    const char *args [] = {server_arg, "ventilator:--lease-timeout=2000", NULL};
    th_harness_t *harness = th_harness_new ("curve", 1, args);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    const char *services [] = {"gateway", "ventilator", "sink", "worker-1",
                               NULL};
    for (const char **name = services; *name; name++)
        TH_CHECK (
            th_file_contains (ds_launcher_log (launcher, *name), "CURVE on"),
            "%s logs CURVE on", *name);

    //  The C services and worker, over CURVE
    char *body = th_images_body ((const char *[]){"invoice.png", NULL}, NULL);
    char *task_id = th_submit (harness, "document", body);
    json_t *status = th_wait_completed (harness, task_id, 60000);
    json_decref (status);
    zstr_free (&task_id);
    zstr_free (&body);

    //  Python clients: admitted, stranger, plain
    command = zsys_sprintf (
        "/usr/bin/python3 %s/tests/test_curve.py %s %s %s %s %s",
        source ? source : "..", ds_launcher_endpoint (launcher, "front"),
        ds_launcher_endpoint (launcher, "publish"), keys, strangers,
        fixtures ? fixtures : "fixtures");
    int rc = s_run (command);
    zstr_free (&command);
    TH_CHECK (rc == 0, "the Python CURVE clients (exit %d)", rc);

    //  Workers: stop the C worker; a stranger's worker gets no task, an
    //  admitted one then does it
    kill (ds_launcher_pid (launcher, "worker-1"), SIGTERM);
    TH_CHECK (ds_launcher_wait (launcher, "worker-1", 30000) == 0,
              "the C worker stopped");
    char *server_cert = zsys_sprintf ("%s/server.cert", keys);
    char *mallory_cert = zsys_sprintf ("%s/mallory.cert_secret", strangers);
    char *worker_cert = zsys_sprintf ("%s/worker1.cert_secret", keys);
    pid_t mallory = th_python_worker (
        harness, "python-mallory",
        (const char *[]){"--server-cert", server_cert, "--client-cert",
                         mallory_cert, NULL});
    task_id = th_submit (harness, "form_filling",
                         "{\"form\": {\"fields\": [\"Code\"]}, \"file_lib\": "
                         "{\"documents\": [{\"id\": \"d\", \"kv\": {\"Code\": "
                         "\"C1\"}}]}}");
    status = th_wait_terminal (harness, task_id, 3000);
    TH_CHECK (!status, "no task for a worker the services do not admit (%s)",
              s_state (status));
    pid_t admitted =
        th_python_worker (harness, "python-admitted",
                          (const char *[]){"--server-cert", server_cert,
                                           "--client-cert", worker_cert, NULL});
    status = th_wait_completed (harness, task_id, 30000);
    TH_CHECK (streq (json_string_value (json_object_get (status, "worker")),
                     "python-admitted"),
              "done by the admitted worker");
    json_decref (status);
    zstr_free (&task_id);
    kill (mallory, SIGKILL);
    waitpid (mallory, NULL, 0);
    kill (admitted, SIGTERM);
    waitpid (admitted, NULL, 0);

    th_harness_destroy (&harness);
    zstr_free (&server_cert);
    zstr_free (&mallory_cert);
    zstr_free (&worker_cert);
    zstr_free (&server_arg);
    zstr_free (&keys);
    zstr_free (&strangers);
    printf ("test_curve: OK\n");
    return 0;
}
