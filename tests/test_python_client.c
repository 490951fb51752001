/*  =========================================================================
    test_python_client - the Python client (clients/python) against the
    real services, through the ZMQ front door and the event stream
    =========================================================================
*/

#include "testutil.h"

int
main (void)
{
    if (access ("/usr/bin/python3", X_OK))
        return 77;
    th_harness_t *harness = th_harness_new ("python_client", 1, NULL);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    const char *source = getenv ("DS_SOURCE_DIR");
    const char *fixtures = getenv ("DS_FIXTURES");
    char *command = zsys_sprintf (
        "/usr/bin/python3 %s/tests/test_python_client.py %s %s %s",
        source ? source : "..", ds_launcher_endpoint (launcher, "front"),
        ds_launcher_endpoint (launcher, "publish"),
        fixtures ? fixtures : "fixtures");
    int status = system (command);
    int rc = WIFEXITED (status) ? WEXITSTATUS (status) : 1;
    zstr_free (&command);
    TH_CHECK (th_harness_alive (harness), "services alive");
    th_harness_destroy (&harness);
    if (rc == 77)
        return 77;
    TH_CHECK (rc == 0, "the Python client test failed (exit %d)", rc);
    printf ("test_python_client: OK\n");
    return 0;
}
