/*  =========================================================================
    test_cli - the README's promise: `docusnap up`, then
    `docusnap submit --wait PAGE` prints a completed result with the
    page's words; a killed worker is restarted; SIGTERM stops everything.
    =========================================================================
*/

#include "testutil.h"

#define UP_TIMEOUT_MS 60000

//  Run a command, return its stdout (caller frees) and exit status
static char *
s_run (const char *command, int *exit_status)
{
    FILE *pipe = popen (command, "r");
    TH_CHECK (pipe, "popen %s", command);
    zchunk_t *output = zchunk_new (NULL, 4096);
    char buffer [4096];
    size_t got;
    while ((got = fread (buffer, 1, sizeof (buffer), pipe)) > 0)
        zchunk_extend (output, buffer, got);
    int status = pclose (pipe);
    *exit_status = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    char *text = zchunk_strdup (output);
    zchunk_destroy (&output);
    return text;
}

//  Run docusnap COMMAND --url URL ARGS and check its exit status and that
//  its output holds the needle
static void
s_expect (const char *docusnap,
          const char *command,
          const char *url,
          const char *args,
          int exit_wanted,
          const char *needle)
{
    char *line =
        zsys_sprintf ("%s %s --url %s %s", docusnap, command, url, args);
    int exit_status;
    char *output = s_run (line, &exit_status);
    TH_CHECK (exit_status == exit_wanted && strstr (output, needle),
              "%s: exit %d (wanted %d), output: %s", line, exit_status,
              exit_wanted, output);
    zstr_free (&output);
    zstr_free (&line);
}

//  Pid of the worker from its ready file ("worker=HOST-PID"), 0 if none
static pid_t
s_worker_pid (const char *ready_file)
{
    zchunk_t *chunk = zchunk_slurp (ready_file, 0);
    if (!chunk)
        return 0;
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    char *dash = strrchr (text, '-');
    pid_t pid = dash ? (pid_t) atoi (dash + 1) : 0;
    zstr_free (&text);
    return pid;
}

int
main (void)
{
    zsys_init ();
    const char *bin_dir = getenv ("DS_BIN_DIR");
    char *docusnap = zsys_sprintf ("%s/docusnap", bin_dir ? bin_dir : ".");
    if (access (docusnap, X_OK))
        return 77;
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *dir = zsys_sprintf ("%s/cli.%d", cwd, (int) getpid ());
    char *log = zsys_sprintf ("%s.log", dir);

    //  --help and a usage error
    int exit_status;
    char *command = zsys_sprintf ("%s up --help", docusnap);
    char *output = s_run (command, &exit_status);
    TH_CHECK (exit_status == 0 && strstr (output, "--workers"), "up --help");
    zstr_free (&output);
    zstr_free (&command);
    command = zsys_sprintf ("%s frobnicate 2>/dev/null", docusnap);
    output = s_run (command, &exit_status);
    TH_CHECK (exit_status == 2, "unknown command exits 2");
    zstr_free (&output);
    zstr_free (&command);

    //  docusnap up, output to a log; its banner is the handshake
    pid_t up = fork ();
    if (up == 0) {
        //  If this test dies (a ctest timeout), docusnap up stops its
        //  services instead of leaving them running
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execl (docusnap, docusnap, "up", "--data-dir", dir, "--http-port", "0",
               "--workers", "1", (char *) NULL);
        _exit (127);
    }
    char *url = NULL;
    int64_t deadline = zclock_mono () + UP_TIMEOUT_MS;
    while (!url && zclock_mono () < deadline) {
        zchunk_t *chunk = zchunk_slurp (log, 0);
        char *text = chunk ? zchunk_strdup (chunk) : NULL;
        zchunk_destroy (&chunk);
        char *banner = text ? strstr (text, "docusnap is up: ") : NULL;
        if (banner) {
            banner += strlen ("docusnap is up: ");
            url = zsys_sprintf ("%.*s", (int) strcspn (banner, " \n"), banner);
        }
        zstr_free (&text);
        int status;
        TH_CHECK (waitpid (up, &status, WNOHANG) == 0, "up exited; see %s",
                  log);
        if (!url)
            zclock_sleep (20);
    }
    TH_CHECK (url, "docusnap up did not come up; see %s", log);

    //  submit --wait prints the completed result with the page's words
    char *page = th_fixture_path ("invoice.png");
    command =
        zsys_sprintf ("%s submit --url %s --wait %s", docusnap, url, page);
    output = s_run (command, &exit_status);
    TH_CHECK (exit_status == 0, "submit --wait exit %d: %s", exit_status,
              output);
    TH_CHECK (strstr (output, "\"completed\"") && strstr (output, "INV-2041")
                  && strstr (output, "Acme Corporation"),
              "output: %s", output);
    //  status of the same task
    json_t *result = json_loads (output, 0, NULL);
    TH_CHECK (result, "submit --wait prints JSON");
    char *task_id =
        strdup (json_string_value (json_object_get (result, "task_id")));
    json_decref (result);
    zstr_free (&output);
    s_expect (docusnap, "status", url, task_id, 0, "\"completed\"");
    //  status --wait of an ended task, at once; cancel it: 409, exit 1;
    //  status --wait of an unknown task: 404, exit 1, no waiting
    char *wait_args = zsys_sprintf ("--wait %s", task_id);
    s_expect (docusnap, "status", url, wait_args, 0, "\"completed\"");
    zstr_free (&wait_args);
    s_expect (docusnap, "cancel", url, task_id, 1, "TASK_ENDED");
    int64_t started = zclock_mono ();
    s_expect (docusnap, "status", url,
              "--wait --timeout 60 6dd0391d-3900-4730-b329-4f392514e3fc", 1,
              "TASK_NOT_FOUND");
    TH_CHECK (zclock_mono () - started < 30000,
              "status --wait of an unknown task waited");
    zstr_free (&task_id);

    //  A worker killed with SIGKILL is started again
    char *ready_file = zsys_sprintf ("%s/run/worker-1.ready", dir);
    pid_t worker = s_worker_pid (ready_file);
    TH_CHECK (worker > 0, "worker pid from %s", ready_file);
    TH_CHECK (kill (worker, SIGKILL) == 0, "kill worker");
    pid_t restarted = 0;
    deadline = zclock_mono () + UP_TIMEOUT_MS;
    while (zclock_mono () < deadline
           && ((restarted = s_worker_pid (ready_file)) == 0
               || restarted == worker))
        zclock_sleep (20);
    TH_CHECK (restarted > 0 && restarted != worker, "worker restarted");
    output = s_run (command, &exit_status);
    TH_CHECK (exit_status == 0 && strstr (output, "INV-2041"),
              "submit after restart: %s", output);
    zstr_free (&output);

    //  SIGTERM stops up and every service, cleanly
    kill (up, SIGTERM);
    int status = 0;
    deadline = zclock_mono () + UP_TIMEOUT_MS;
    pid_t done;
    while ((done = waitpid (up, &status, WNOHANG)) == 0
           && zclock_mono () < deadline)
        zclock_sleep (20);
    TH_CHECK (done == up && WIFEXITED (status) && WEXITSTATUS (status) == 0,
              "up stops cleanly on SIGTERM");
    TH_CHECK (kill (restarted, 0) == -1, "worker stopped with up");

    zstr_free (&ready_file);
    zstr_free (&command);
    zstr_free (&page);
    zstr_free (&url);
    zstr_free (&log);
    zstr_free (&dir);
    zstr_free (&docusnap);
    printf ("test_cli: OK\n");
    return 0;
}
