/*  =========================================================================
    docusnap - the command: run the pipeline, submit pages, read status

    docusnap up [--data-dir DIR] [--http-port PORT] [--workers N]
    docusnap submit [--url URL] [--type document|form] [--wait] IMAGE...
    docusnap status [--url URL] [--wait] TASK_ID
    docusnap cancel [--url URL] TASK_ID
    =========================================================================
*/

#include "docusnap.h"
#include <curl/curl.h>
#include <sys/stat.h>

#define UP_STOP_TIMEOUT_MS 40000  //  SIGTERM to SIGKILL
#define UP_SUPERVISE_MS 100       //  how often to look for dead services
#define WAIT_RETRY_MS 250         //  pause after a failed status request
#define WAIT_STEP_S 1             //  each status request waits this long
#define HTTP_TIMEOUT_S 120

static char *s_bin_dir = NULL;
static char *s_authorization = NULL;  //  the API key's header, or NULL


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
    ds_launcher_t *launcher = ds_launcher_new (s_bin_dir, run_dir);
    char *arg = zsys_sprintf ("--data-dir=%s", data_dir);
    ds_launcher_add_arg (launcher, "store", arg);
    zstr_free (&arg);
    if (*ds_config_get (config, "config")) {
        arg = zsys_sprintf ("--config=%s", ds_config_get (config, "config"));
        ds_launcher_add_arg (launcher, "all", arg);
        zstr_free (&arg);
    }
    if (ds_config_bool (config, "verbose"))
        ds_launcher_add_arg (launcher, "all", "--verbose");
    const char *curve_options [] = {"curve-server-cert", "curve-client-cert",
                                    "curve-authorized"};
    for (size_t option_nbr = 0; option_nbr < 3; option_nbr++) {
        const char *value = ds_config_get (config, curve_options [option_nbr]);
        if (*value) {
            arg = zsys_sprintf ("--%s=%s", curve_options [option_nbr], value);
            ds_launcher_add_arg (launcher, "all", arg);
            zstr_free (&arg);
        }
    }
    arg = zsys_sprintf ("--http-port=%s", ds_config_get (config, "http-port"));
    ds_launcher_add_arg (launcher, "gateway", arg);
    zstr_free (&arg);

    int workers = (int) ds_config_int (config, "workers");
    int exit_code = 1;
    if (ds_launcher_start (launcher, workers) == 0) {
        exit_code = 0;
        printf ("\ndocusnap is up: %s  (data in %s, %d worker%s)\n"
                "  try: docusnap submit --wait PAGE.png\n"
                "  stop: Ctrl-C\n\n",
                ds_launcher_url (launcher), data_dir, workers,
                workers == 1 ? "" : "s");
        fflush (stdout);
        //  Supervise: restart what dies, with a growing delay
        while (!zsys_interrupted) {
            ds_launcher_supervise (launcher, true);
            zclock_sleep (UP_SUPERVISE_MS);
        }
        printf ("docusnap: stopping\n");
        fflush (stdout);
    }
    else
        fprintf (stderr, "docusnap: the pipeline did not start; see the "
                         "log above\n");
    if (ds_launcher_stop (launcher, UP_STOP_TIMEOUT_MS))
        exit_code = 1;
    ds_launcher_destroy (&launcher);
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
        body ? curl_slist_append (NULL, "Content-Type: application/json")
             : NULL;
    if (s_authorization)
        headers = curl_slist_append (headers, s_authorization);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, chunk);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) HTTP_TIMEOUT_S);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
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
//  GET the status, waiting up to wait_s seconds for the task to end;
//  returns the HTTP status and the body

static long
s_get_status (const char *base_url,
              const char *task_id,
              int wait_s,
              char **response)
{
    char *url = zsys_sprintf ("%s/api/task_status/%s?wait=%d", base_url,
                              task_id, wait_s);
    long status = s_http ("GET", url, NULL, response);
    zstr_free (&url);
    return status;
}


//  --------------------------------------------------------------------------
//  Wait for the task's terminal state, showing progress on a terminal
//  (each request is answered when the task ends, or after WAIT_STEP_S),
//  and print it. Returns 0 if it completed, else 1: it ended otherwise,
//  --timeout passed, or the gateway refused the request (4xx: asking
//  again would not help; it is asked again while it cannot be reached)

static int
s_wait (ds_config_t *config, const char *task_id)
{
    const char *base_url = ds_config_get (config, "url");
    bool tty = isatty (STDERR_FILENO);
    int64_t deadline =
        zclock_mono () + ds_config_int (config, "timeout") * 1000;
    int64_t start = zclock_mono ();
    int exit_code = 1;
    while (!zsys_interrupted) {
        char *response = NULL;
        int64_t asked_at = zclock_mono ();
        long status = s_get_status (base_url, task_id, WAIT_STEP_S, &response);
        json_t *value = status == 200 ? json_loads (response, 0, NULL) : NULL;
        const char *state =
            json_string_value (json_object_get (value, "status"));
        if (state && tty)
            fprintf (stderr, "\r%s: %-12s %5.1f s", task_id, state,
                     (zclock_mono () - start) / 1000.0);
        bool done = ds_util_is_terminal (state);
        bool refused = status >= 400 && status < 500;
        bool late = zclock_mono () > deadline;
        if (done || refused || late) {
            if (tty && state)
                fprintf (stderr, "\n");
            s_print_json (response);
            exit_code = done && streq (state, "completed") ? 0 : 1;
            if (late && !done && !refused)
                fprintf (stderr,
                         "docusnap: gave up waiting after %" PRId64 " s\n",
                         ds_config_int (config, "timeout"));
        }
        json_decref (value);
        zstr_free (&response);
        if (done || refused || late)
            break;
        if (status != 200)
            zclock_sleep (WAIT_RETRY_MS);  //  the gateway is not answering
        else {
            //  A wait answered early (the gateway holds max-waiting
            //  requests): one request per step all the same
            int64_t rest = asked_at + WAIT_STEP_S * 1000 - zclock_mono ();
            if (rest > 0)
                zclock_sleep ((int) rest);
        }
    }
    return exit_code;
}


//  --------------------------------------------------------------------------
//  docusnap status [--wait] TASK_ID

static int
s_status (ds_config_t *config, const char *task_id)
{
    if (ds_config_bool (config, "wait"))
        return s_wait (config, task_id);
    char *response = NULL;
    long status =
        s_get_status (ds_config_get (config, "url"), task_id, 0, &response);
    s_print_json (response);
    zstr_free (&response);
    return status == 200 ? 0 : 1;
}


//  --------------------------------------------------------------------------
//  docusnap cancel TASK_ID

static int
s_cancel (ds_config_t *config, const char *task_id)
{
    char *url = zsys_sprintf ("%s/api/tasks/%s", ds_config_get (config, "url"),
                              task_id);
    char *response = NULL;
    long status = s_http ("DELETE", url, NULL, &response);
    s_print_json (response);
    zstr_free (&response);
    zstr_free (&url);
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
    int exit_code = s_wait (config, task_id);
    zstr_free (&task_id);
    return exit_code;
}


//  --------------------------------------------------------------------------
//  docusnap keygen DIR [NAME]...: the services' certificate, once, and one
//  certificate per client or worker, each admitted by a public copy in
//  DIR/authorized

static int
s_keygen (int argc, char **argv)
{
    if (argc < 3 || streq (argv [2], "-h") || streq (argv [2], "--help")) {
        printf ("Usage: docusnap keygen DIR [NAME]...\n"
                "Writes CURVE certificates (czmq format) for docusnap:\n"
                "  DIR/server.cert, DIR/server.cert_secret   the services' "
                "keys (made once)\n"
                "  DIR/NAME.cert, DIR/NAME.cert_secret       a client's or "
                "worker's keys\n"
                "  DIR/authorized/*.cert                     public keys the "
                "services admit\n"
                "Then run the services with --curve-server-cert="
                "DIR/server.cert; give a\nclient DIR/server.cert (public) and "
                "its own DIR/NAME.cert_secret.\n");
        return argc < 3 ? 2 : 0;
    }
    const char *dir = argv [2];
    char *authorized = zsys_sprintf ("%s/authorized", dir);
    int exit_code = 0;
    if (ds_util_mkdir_p (authorized)) {
        fprintf (stderr, "docusnap: cannot create %s: %s\n", authorized,
                 strerror (errno));
        exit_code = 1;
    }
    //  The services' own certificate first; each name after it
    for (int arg_nbr = 1; arg_nbr < argc - 1 && exit_code == 0; arg_nbr++) {
        const char *name = arg_nbr == 1 ? "server" : argv [arg_nbr + 1];
        if (arg_nbr > 1 && (!*name || strchr (name, '/') || *name == '.')) {
            fprintf (stderr, "docusnap: '%s' is not a plain name\n", name);
            exit_code = 2;
            break;
        }
        char *path = zsys_sprintf ("%s/%s.cert", dir, name);
        char *admitted = zsys_sprintf ("%s/%s.cert", authorized, name);
        bool exists = zsys_file_exists (path);
        if (exists && arg_nbr > 1) {
            fprintf (stderr, "docusnap: %s exists; not overwritten\n", path);
            exit_code = 1;
        }
        else if (!exists && ds_curve_keygen (path, name)) {
            fprintf (stderr, "docusnap: cannot write %s: %s\n", path,
                     strerror (errno));
            exit_code = 1;
        }
        else {
            zcert_t *cert = zcert_load (path);
            if (!cert || zcert_save_public (cert, admitted)) {
                fprintf (stderr, "docusnap: cannot write %s\n", admitted);
                exit_code = 1;
            }
            else
                printf ("%s %s (public key %s)\n", exists ? "kept " : "wrote",
                        path, zcert_public_txt (cert));
            zcert_destroy (&cert);
        }
        zstr_free (&path);
        zstr_free (&admitted);
    }
    if (exit_code == 0 && argc == 3)
        printf ("no client named: add one with 'docusnap keygen %s NAME'\n",
                dir);
    zstr_free (&authorized);
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
             "  status    show a task: status [--wait] TASK_ID\n"
             "  cancel    cancel a pending or running task: cancel TASK_ID\n"
             "  config    print the reference of every option (Markdown)\n"
             "  keygen    write CURVE certificates: keygen DIR [NAME]...\n\n"
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
    if (streq (command, "keygen")) {
        zsys_init ();
        zsys_set_logident ("docusnap");
        return s_keygen (argc, argv);
    }
    bool up = streq (command, "up");
    if (!up && !streq (command, "submit") && !streq (command, "status")
        && !streq (command, "cancel")) {
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
        : streq (command, "status")
            ? "Prints a task's status and result; with --wait, once it has "
              "ended."
            : "Cancels a pending or running task and prints the answer.");
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
    if (!up && *ds_config_get (config, "http-api-key")) {
        //  The first key of the list
        const char *keys = ds_config_get (config, "http-api-key");
        keys += strspn (keys, " ");
        s_authorization = zsys_sprintf ("Authorization: Bearer %.*s",
                                        (int) strcspn (keys, ", "), keys);
    }
    zlist_t *args = ds_config_args (config);
    int exit_code;
    if (up)
        exit_code = zlist_size (args) ? 2 : s_up (config);
    else if (streq (command, "submit"))
        exit_code = s_submit (config, args);
    else if (zlist_size (args) != 1) {
        fprintf (stderr, "docusnap: %s needs one TASK_ID\n", command);
        exit_code = 2;
    }
    else if (streq (command, "status"))
        exit_code = s_status (config, (const char *) zlist_first (args));
    else
        exit_code = s_cancel (config, (const char *) zlist_first (args));
    curl_global_cleanup ();
    zstr_free (&s_bin_dir);
    zstr_free (&s_authorization);
    ds_config_destroy (&config);
    return exit_code;
}
