/*  =========================================================================
    docusnap - the command: run the pipeline, submit pages, read status

    docusnap up [--data-dir DIR] [--http-port PORT] [--workers N]
    docusnap submit [--url URL] [--type document|form] [--wait] IMAGE...
    docusnap status [--url URL] TASK_ID
    =========================================================================
*/

#include "docusnap.h"
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/prctl.h>

#define UP_READY_TIMEOUT_MS 60000  //  a service's start-up, at most
#define UP_STOP_TIMEOUT_MS 40000   //  SIGTERM to SIGKILL
#define UP_RESTART_MIN_MS 500      //  first restart delay
#define UP_RESTART_MAX_MS 10000    //  longest restart delay
#define UP_STABLE_MS 30000         //  alive this long resets the delay
#define WAIT_POLL_MS 250           //  status polling interval
#define HTTP_TIMEOUT_S 120

//  One supervised service process

typedef struct {
    const char *program;    //  e.g. "docusnap-sink"
    char *name;             //  e.g. "worker-2"
    zlist_t *args;          //  arguments after the program (char *)
    char *ready_file;       //  where it writes its endpoints
    pid_t pid;              //  running process, 0 if none
    int64_t started;        //  when it last started (mono ms)
    int64_t restart_at;     //  when to start it again, 0 if not due
    int64_t delay;          //  next restart delay
    unsigned int restarts;  //  restarts so far
} child_t;

static char *s_bin_dir = NULL;


//  --------------------------------------------------------------------------
//  Directory of this executable: the services sit beside it

static char *
s_own_dir (void)
{
    char path [PATH_MAX];
    ssize_t length = readlink ("/proc/self/exe", path, sizeof (path) - 1);
    if (length <= 0)
        return strdup (".");
    path [length] = 0;
    char *slash = strrchr (path, '/');
    if (slash)
        *slash = 0;
    return strdup (path);
}


//  --------------------------------------------------------------------------
//  Create a child description

static child_t *
s_child_new (const char *program, const char *name, const char *run_dir)
{
    child_t *child = (child_t *) zmalloc (sizeof (child_t));
    assert (child);
    child->program = program;
    child->name = strdup (name);
    child->args = zlist_new ();
    zlist_autofree (child->args);
    child->ready_file = zsys_sprintf ("%s/%s.ready", run_dir, name);
    child->delay = UP_RESTART_MIN_MS;
    return child;
}

static void
s_child_destroy (child_t **child_p)
{
    child_t *child = *child_p;
    if (child) {
        zlist_destroy (&child->args);
        zstr_free (&child->name);
        zstr_free (&child->ready_file);
        free (child);
        *child_p = NULL;
    }
}

static void
s_child_arg (child_t *child, const char *name, const char *value)
{
    char *arg = zsys_sprintf ("--%s=%s", name, value);
    zlist_append (child->args, arg);
    zstr_free (&arg);
}


//  --------------------------------------------------------------------------
//  Arguments every service gets from docusnap up; replaces any it had

static void
s_child_common (child_t *child, ds_config_t *config, bool store)
{
    zlist_purge (child->args);
    if (store)
        s_child_arg (child, "data-dir", ds_config_get (config, "data-dir"));
    if (*ds_config_get (config, "config"))
        s_child_arg (child, "config", ds_config_get (config, "config"));
    if (ds_config_bool (config, "verbose"))
        s_child_arg (child, "verbose", "true");
}


//  --------------------------------------------------------------------------
//  Start a child process. Returns 0, or -1 if it could not be started.

static int
s_child_start (child_t *child)
{
    unlink (child->ready_file);
    char *path = zsys_sprintf ("%s/%s", s_bin_dir, child->program);
    size_t count = zlist_size (child->args);
    char **argv = (char **) zmalloc ((count + 3) * sizeof (char *));
    argv [0] = path;
    size_t arg_nbr = 1;
    for (char *arg = (char *) zlist_first (child->args); arg;
         arg = (char *) zlist_next (child->args))
        argv [arg_nbr++] = arg;
    char *ready = zsys_sprintf ("--ready-file=%s", child->ready_file);
    argv [arg_nbr++] = ready;
    argv [arg_nbr] = NULL;
    pid_t pid = fork ();
    if (pid == 0) {
        //  Own process group, so a terminal's Ctrl-C reaches only docusnap
        //  up, which stops the services in order; and SIGTERM if up dies
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        execv (path, argv);
        fprintf (stderr, "docusnap: cannot run %s: %s\n", path,
                 strerror (errno));
        _exit (127);
    }
    free (argv);
    zstr_free (&ready);
    zstr_free (&path);
    if (pid < 0)
        return -1;
    child->pid = pid;
    child->started = zclock_mono ();
    child->restart_at = 0;
    return 0;
}


//  --------------------------------------------------------------------------
//  Wait for a child's ready file; returns its text (caller frees) or NULL
//  if the child died or took too long

static char *
s_child_wait_ready (child_t *child)
{
    int64_t deadline = zclock_mono () + UP_READY_TIMEOUT_MS;
    while (zclock_mono () < deadline && !zsys_interrupted) {
        if (zsys_file_exists (child->ready_file)) {
            zfile_t *file = zfile_new (NULL, child->ready_file);
            char *text = NULL;
            if (file && zfile_input (file) == 0) {
                zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
                text = zchunk_strdup (chunk);
                zchunk_destroy (&chunk);
            }
            zfile_destroy (&file);
            return text;
        }
        int status;
        if (waitpid (child->pid, &status, WNOHANG) == child->pid) {
            child->pid = 0;
            return NULL;
        }
        zclock_sleep (20);  //  a file is the handshake; poll it
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Value of "name=value" in a ready file's text; caller frees

static char *
s_ready_value (const char *text, const char *name)
{
    size_t length = strlen (name);
    for (const char *line = text; line && *line;) {
        if (strncmp (line, name, length) == 0 && line [length] == '=') {
            const char *value = line + length + 1;
            const char *end = strchr (value, '\n');
            return zsys_sprintf (
                "%.*s", (int) (end ? end - value : (ptrdiff_t) strlen (value)),
                value);
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Start a child and read one endpoint from its ready file

static char *
s_start_and_read (child_t *child, const char *name)
{
    if (s_child_start (child))
        return NULL;
    char *text = s_child_wait_ready (child);
    char *value = text ? s_ready_value (text, name) : NULL;
    zstr_free (&text);
    if (!value)
        fprintf (stderr, "docusnap: %s did not start (see its log above)\n",
                 child->name);
    return value;
}


//  --------------------------------------------------------------------------
//  Stop every child: SIGTERM in order, then SIGKILL after a deadline

static void
s_stop_all (zlistx_t *children)
{
    for (child_t *child = (child_t *) zlistx_last (children); child;
         child = (child_t *) zlistx_prev (children))
        if (child->pid > 0)
            kill (child->pid, SIGTERM);
    int64_t deadline = zclock_mono () + UP_STOP_TIMEOUT_MS;
    bool running = true;
    while (running) {
        running = false;
        for (child_t *child = (child_t *) zlistx_first (children); child;
             child = (child_t *) zlistx_next (children)) {
            if (child->pid <= 0)
                continue;
            int status;
            if (waitpid (child->pid, &status, WNOHANG) == child->pid)
                child->pid = 0;
            else if (zclock_mono () > deadline) {
                fprintf (stderr, "docusnap: %s did not stop, killing it\n",
                         child->name);
                kill (child->pid, SIGKILL);
                waitpid (child->pid, &status, 0);
                child->pid = 0;
            }
            else
                running = true;
        }
        if (running)
            zclock_sleep (50);
    }
}


//  --------------------------------------------------------------------------
//  docusnap up

static int
s_up (ds_config_t *config)
{
    const char *data_dir = ds_config_get (config, "data-dir");
    char *run_dir = zsys_sprintf ("%s/run", data_dir);
    if (ds_util_mkdir_p (run_dir)) {
        fprintf (stderr, "docusnap: cannot create %s: %s\n", run_dir,
                 strerror (errno));
        zstr_free (&run_dir);
        return 1;
    }
    zlistx_t *children = zlistx_new ();
    zlistx_set_destructor (children, (zlistx_destructor_fn *) s_child_destroy);

    //  The sink and the ventilator bind ephemeral loopback ports; once
    //  known, a restarted one binds the same port again
    child_t *sink = s_child_new ("docusnap-sink", "sink", run_dir);
    child_t *ventilator =
        s_child_new ("docusnap-ventilator", "ventilator", run_dir);
    child_t *gateway = s_child_new ("docusnap-gateway", "gateway", run_dir);
    child_t *all [] = {sink, ventilator, gateway};
    for (int child_nbr = 0; child_nbr < 3; child_nbr++) {
        zlistx_add_end (children, all [child_nbr]);
        s_child_common (all [child_nbr], config, true);
    }
    int exit_code = 1;
    s_child_arg (sink, "events-endpoint", "tcp://127.0.0.1:*");
    char *events = s_start_and_read (sink, "events");
    char *queue = NULL, *dispatch = NULL, *http = NULL;
    if (events) {
        s_child_common (sink, config, true);
        s_child_arg (sink, "events-endpoint", events);
        s_child_arg (ventilator, "queue-endpoint", "tcp://127.0.0.1:*");
        s_child_arg (ventilator, "dispatch-endpoint", "tcp://127.0.0.1:*");
        queue = s_start_and_read (ventilator, "queue");
        if (queue) {
            char *text = s_child_wait_ready (ventilator);
            dispatch = text ? s_ready_value (text, "dispatch") : NULL;
            zstr_free (&text);
        }
    }
    if (dispatch) {
        s_child_common (ventilator, config, true);
        s_child_arg (ventilator, "queue-endpoint", queue);
        s_child_arg (ventilator, "dispatch-endpoint", dispatch);
        s_child_arg (gateway, "queue-endpoint", queue);
        s_child_arg (gateway, "http-port", ds_config_get (config, "http-port"));
        http = s_start_and_read (gateway, "http");
    }
    int64_t workers = ds_config_int (config, "workers");
    bool ready = http != NULL;
    for (int64_t worker_nbr = 1; ready && worker_nbr <= workers; worker_nbr++) {
        char *name = zsys_sprintf ("worker-%" PRId64, worker_nbr);
        child_t *worker = s_child_new ("docusnap-worker", name, run_dir);
        zstr_free (&name);
        zlistx_add_end (children, worker);
        s_child_common (worker, config, false);
        s_child_arg (worker, "dispatch-endpoint", dispatch);
        s_child_arg (worker, "events-endpoint", events);
        char *id = s_start_and_read (worker, "worker");
        ready = id != NULL;
        zstr_free (&id);
    }
    if (ready) {
        exit_code = 0;
        printf ("\ndocusnap is up: %s  (data in %s, %" PRId64 " worker%s)\n"
                "  try: docusnap submit --wait PAGE.png\n"
                "  stop: Ctrl-C\n\n",
                http, data_dir, workers, workers == 1 ? "" : "s");
        fflush (stdout);
        //  Supervise: restart what dies, with a growing delay
        while (!zsys_interrupted) {
            int status;
            pid_t pid = waitpid (-1, &status, WNOHANG);
            for (child_t *child = (child_t *) zlistx_first (children); child;
                 child = (child_t *) zlistx_next (children)) {
                if (pid > 0 && child->pid == pid) {
                    child->pid = 0;
                    if (zclock_mono () - child->started > UP_STABLE_MS)
                        child->delay = UP_RESTART_MIN_MS;
                    child->restart_at = zclock_mono () + child->delay;
                    fprintf (stderr,
                             "docusnap: %s exited (%s %d), restarting "
                             "in %" PRId64 " ms\n",
                             child->name,
                             WIFSIGNALED (status) ? "signal" : "status",
                             WIFSIGNALED (status) ? WTERMSIG (status)
                                                  : WEXITSTATUS (status),
                             child->delay);
                    child->delay = child->delay * 2 > UP_RESTART_MAX_MS
                                       ? UP_RESTART_MAX_MS
                                       : child->delay * 2;
                }
                if (child->pid == 0 && child->restart_at
                    && zclock_mono () >= child->restart_at) {
                    child->restarts++;
                    if (s_child_start (child))
                        child->restart_at = zclock_mono () + child->delay;
                }
            }
            if (pid <= 0)
                zclock_sleep (100);
        }
        printf ("docusnap: stopping\n");
        fflush (stdout);
    }
    s_stop_all (children);
    zlistx_destroy (&children);
    zstr_free (&events);
    zstr_free (&queue);
    zstr_free (&dispatch);
    zstr_free (&http);
    zstr_free (&run_dir);
    return exit_code;
}


//  --------------------------------------------------------------------------
//  libcurl write callback into a zchunk

static size_t
s_curl_write (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend ((zchunk_t *) arg, data, size * count);
    return size * count;
}


//  --------------------------------------------------------------------------
//  One HTTP request; returns the status (0 on a transport error) and the
//  response body in *response (caller frees)

static long
s_http (const char *method, const char *url, const char *body, char **response)
{
    CURL *curl = curl_easy_init ();
    assert (curl);
    zchunk_t *chunk = zchunk_new (NULL, 4096);
    struct curl_slist *headers =
        curl_slist_append (NULL, "Content-Type: application/json");
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, chunk);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) HTTP_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    }
    long status = 0;
    CURLcode rc = curl_easy_perform (curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf (stderr, "docusnap: %s %s: %s\n", method, url,
                 curl_easy_strerror (rc));
    *response = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return status;
}


//  --------------------------------------------------------------------------
//  Print JSON text indented, or as it is if it is not JSON

static void
s_print_json (const char *text)
{
    json_t *value = json_loads (text, 0, NULL);
    char *pretty = value ? json_dumps (value, JSON_INDENT (2)) : NULL;
    printf ("%s\n", pretty ? pretty : text);
    free (pretty);
    json_decref (value);
}


//  --------------------------------------------------------------------------
//  GET the status; returns the HTTP status and the body

static long
s_get_status (const char *base_url, const char *task_id, char **response)
{
    char *url = zsys_sprintf ("%s/api/task_status/%s", base_url, task_id);
    long status = s_http ("GET", url, NULL, response);
    zstr_free (&url);
    return status;
}


//  --------------------------------------------------------------------------
//  docusnap status TASK_ID

static int
s_status (ds_config_t *config, const char *task_id)
{
    char *response = NULL;
    long status =
        s_get_status (ds_config_get (config, "url"), task_id, &response);
    s_print_json (response);
    zstr_free (&response);
    return status == 200 ? 0 : 1;
}


//  --------------------------------------------------------------------------
//  Read a whole file into a new chunk, or NULL

static zchunk_t *
s_read_file (const char *path)
{
    zfile_t *file = zfile_new (NULL, path);
    zchunk_t *chunk = NULL;
    if (file && zfile_is_regular (file) && zfile_input (file) == 0)
        chunk = zfile_read (file, zfile_cursize (file), 0);
    zfile_destroy (&file);
    return chunk;
}


//  --------------------------------------------------------------------------
//  docusnap submit IMAGE...

static int
s_submit (ds_config_t *config, zlist_t *paths)
{
    const char *type = ds_config_get (config, "type");
    if (!streq (type, "document") && !streq (type, "form")) {
        fprintf (stderr, "docusnap: --type must be document or form\n");
        return 2;
    }
    if (zlist_size (paths) == 0) {
        fprintf (stderr, "docusnap: submit needs one image file or more\n");
        return 2;
    }
    json_t *images = json_array ();
    for (char *path = (char *) zlist_first (paths); path;
         path = (char *) zlist_next (paths)) {
        zchunk_t *chunk = s_read_file (path);
        if (!chunk) {
            fprintf (stderr, "docusnap: cannot read %s\n", path);
            json_decref (images);
            return 1;
        }
        char *encoded =
            ds_util_base64_encode (zchunk_data (chunk), zchunk_size (chunk));
        json_array_append_new (images, json_string (encoded));
        zstr_free (&encoded);
        zchunk_destroy (&chunk);
    }
    json_t *request =
        json_pack ("{s:o, s:I}", "images", images, "priority",
                   (json_int_t) ds_config_int (config, "priority"));
    char *body = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    const char *base_url = ds_config_get (config, "url");
    char *url = zsys_sprintf ("%s/api/process_%s", base_url, type);
    char *response = NULL;
    long status = s_http ("POST", url, body, &response);
    zstr_free (&url);
    zstr_free (&body);
    if (status != 202) {
        s_print_json (response);
        zstr_free (&response);
        return 1;
    }
    json_t *accepted = json_loads (response, 0, NULL);
    char *task_id =
        strdup (json_string_value (json_object_get (accepted, "task_id"))
                    ? json_string_value (json_object_get (accepted, "task_id"))
                    : "");
    json_decref (accepted);
    if (!ds_config_bool (config, "wait")) {
        s_print_json (response);
        zstr_free (&response);
        zstr_free (&task_id);
        return 0;
    }
    zstr_free (&response);
    //  Wait for a terminal state, showing progress on a terminal
    bool tty = isatty (STDERR_FILENO);
    int64_t deadline =
        zclock_mono () + ds_config_int (config, "timeout") * 1000;
    int64_t start = zclock_mono ();
    int exit_code = 1;
    char *last = strdup ("");
    while (!zsys_interrupted) {
        status = s_get_status (base_url, task_id, &response);
        json_t *value = status == 200 ? json_loads (response, 0, NULL) : NULL;
        const char *state =
            json_string_value (json_object_get (value, "status"));
        if (state && !streq (state, last)) {
            if (tty)
                fprintf (stderr, "\r%s: %-12s %5.1f s", task_id, state,
                         (zclock_mono () - start) / 1000.0);
            zstr_free (&last);
            last = strdup (state);
        }
        bool done = state
                    && (streq (state, "completed") || streq (state, "error")
                        || streq (state, "cancelled"));
        json_decref (value);
        if (done || status == 404 || zclock_mono () > deadline) {
            if (tty)
                fprintf (stderr, "\n");
            s_print_json (response);
            exit_code = done && streq (last, "completed") ? 0 : 1;
            if (!done && status != 404)
                fprintf (stderr,
                         "docusnap: gave up waiting after %" PRId64 " s\n",
                         ds_config_int (config, "timeout"));
            zstr_free (&response);
            break;
        }
        zstr_free (&response);
        zclock_sleep (WAIT_POLL_MS);
    }
    zstr_free (&last);
    zstr_free (&task_id);
    return exit_code;
}


//  --------------------------------------------------------------------------
//  Usage

static void
s_usage (FILE *file)
{
    fprintf (file,
             "Usage: docusnap COMMAND [OPTION]... [ARG]...\n"
             "Document pictures in, structured JSON out.\n\n"
             "Commands:\n"
             "  up        start the whole pipeline on this machine\n"
             "  submit    send images as a task: submit [--wait] IMAGE...\n"
             "  status    show a task: status TASK_ID\n"
             "  config    print the reference of every option (Markdown)\n\n"
             "'docusnap COMMAND --help' lists the options of a command.\n");
}


int
main (int argc, char **argv)
{
    if (argc < 2 || streq (argv [1], "-h") || streq (argv [1], "--help")) {
        s_usage (stdout);
        return argc < 2 ? 2 : 0;
    }
    if (streq (argv [1], "--version")) {
        printf ("docusnap %s\n", DS_VERSION_STRING);
        return 0;
    }
    const char *command = argv [1];
    if (streq (command, "config")) {
        ds_config_print_reference (stdout);
        return 0;
    }
    bool up = streq (command, "up");
    if (!up && !streq (command, "submit") && !streq (command, "status")) {
        fprintf (stderr, "docusnap: unknown command '%s'\n\n", command);
        s_usage (stderr);
        return 2;
    }
    char *program = zsys_sprintf ("docusnap %s", command);
    ds_config_t *config = ds_config_new (
        program, up ? DS_ROLE_UP : DS_ROLE_CLIENT,
        up ? "Starts sink, ventilator, gateway and workers on this machine, "
             "restarts any that dies,\nand stops them all on SIGINT or "
             "SIGTERM."
        : streq (command, "submit")
            ? "Sends images as one task; with --wait, waits and prints the "
              "result."
            : "Prints a task's status and result.");
    int rc = ds_config_load (config, argc - 1, argv + 1);
    zstr_free (&program);
    if (rc) {
        ds_config_destroy (&config);
        return rc == 1 ? 0 : 2;
    }
    zsys_init ();
    zsys_set_logident ("docusnap");
    s_bin_dir = s_own_dir ();
    curl_global_init (CURL_GLOBAL_DEFAULT);
    zlist_t *args = ds_config_args (config);
    int exit_code;
    if (up)
        exit_code = zlist_size (args) ? 2 : s_up (config);
    else if (streq (command, "submit"))
        exit_code = s_submit (config, args);
    else if (zlist_size (args) != 1) {
        fprintf (stderr, "docusnap: status needs one TASK_ID\n");
        exit_code = 2;
    }
    else
        exit_code = s_status (config, (const char *) zlist_first (args));
    curl_global_cleanup ();
    zstr_free (&s_bin_dir);
    ds_config_destroy (&config);
    return exit_code;
}
