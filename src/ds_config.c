/*  =========================================================================
    ds_config - configuration from defaults, file, environment and flags

    @header
    One table declares every option of every docusnap program. A program
    creates a ds_config for its role, loads it from file, environment and
    argv, and reads typed values. --help and the docs' option reference
    are generated from the same table, so they cannot drift apart.
    @end
    =========================================================================
*/

#include "ds_classes.h"

#define CONFIG_ENV_PREFIX "DOCUSNAP_"
#define CONFIG_NAME_MAX 64

typedef enum { OPT_STRING, OPT_INT, OPT_BOOL } option_kind_t;

typedef struct {
    const char *name;    //  flag and file key, e.g. "http-port"
    int roles;           //  DS_ROLE_* bits of the programs using it
    option_kind_t kind;  //  value type
    const char *value;   //  built-in default
    int64_t min, max;    //  range, for OPT_INT
    const char *help;    //  one line for --help
} option_t;

#define ALL (DS_ROLE_SERVICES | DS_ROLE_UP | DS_ROLE_CLIENT)
#define STORE (DS_ROLE_GATEWAY | DS_ROLE_VENTILATOR | DS_ROLE_SINK)
#define MEBI (1024 * 1024)

static const option_t s_options [] = {
    {"config", ALL, OPT_STRING, "", 0, 0,
     "read options from this ZPL file (\"name = value\" lines)"},
    {"verbose", ALL, OPT_BOOL, "false", 0, 0, "log debug detail (also -v)"},
    {"data-dir", STORE | DS_ROLE_UP, OPT_STRING, "./docusnap-data", 0, 0,
     "directory for the SQLite database and run files"},
    {"db", STORE, OPT_STRING, "", 0, 0,
     "SQLite database file (default: DATA-DIR/docusnap.db)"},
    {"store-busy-timeout", STORE, OPT_INT, "10000", 1, 3600000,
     "ms to wait for another service's lock on the database before a "
     "write fails (the gateway then answers 503 STORE_UNAVAILABLE)"},
    {"queue-endpoint", DS_ROLE_GATEWAY | DS_ROLE_VENTILATOR, OPT_STRING,
     "tcp://127.0.0.1:5560", 0, 0,
     "ventilator binds, gateway connects: new tasks (QUEUE)"},
    {"dispatch-endpoint", DS_ROLE_VENTILATOR | DS_ROLE_WORKER, OPT_STRING,
     "tcp://127.0.0.1:5561", 0, 0,
     "ventilator binds, workers connect: tasks to run (TASK)"},
    {"events-endpoint",
     DS_ROLE_WORKER | DS_ROLE_SINK | DS_ROLE_VENTILATOR | DS_ROLE_GATEWAY,
     OPT_STRING, "tcp://127.0.0.1:5562", 0, 0,
     "sink binds; workers, ventilator, gateway connect: events (EVENT)"},
    {"publish-endpoint",
     DS_ROLE_SINK | DS_ROLE_VENTILATOR | DS_ROLE_WORKER | DS_ROLE_GATEWAY,
     OPT_STRING, "tcp://127.0.0.1:5563", 0, 0,
     "sink binds PUB; ventilator, workers, gateway, clients subscribe "
     "(STATE)"},
    {"ready-file", DS_ROLE_SERVICES, OPT_STRING, "", 0, 0,
     "once bound, write the resolved endpoints to this file"},
    {"front-endpoint", DS_ROLE_GATEWAY, OPT_STRING, "tcp://127.0.0.1:5564", 0,
     0, "gateway binds ROUTER: the ZMQ front door for clients (\"\": off)"},
    {"curve-server-cert", DS_ROLE_SERVICES | DS_ROLE_UP, OPT_STRING, "", 0, 0,
     "CURVE on every socket: the services' certificate (FILE, and "
     "FILE_secret where a service binds; see docusnap keygen)"},
    {"curve-client-cert", DS_ROLE_SERVICES | DS_ROLE_UP, OPT_STRING, "", 0, 0,
     "CURVE: this program's own certificate when it connects (default: "
     "curve-server-cert)"},
    {"curve-authorized", DS_ROLE_SERVICES | DS_ROLE_UP, OPT_STRING, "", 0, 0,
     "CURVE: directory of the public certificates allowed to connect "
     "(default: authorized/ beside curve-server-cert)"},
    {"http-bind", DS_ROLE_GATEWAY, OPT_STRING, "127.0.0.1", 0, 0,
     "address the HTTP API listens on (0.0.0.0 for all)"},
    {"http-port", DS_ROLE_GATEWAY | DS_ROLE_UP, OPT_INT, "8080", 0, 65535,
     "TCP port of the HTTP API (0 picks a free one)"},
    {"http-api-key", DS_ROLE_GATEWAY | DS_ROLE_CLIENT, OPT_STRING, "", 0, 0,
     "keys the gateway requires on /api/ as Authorization: Bearer KEY, "
     "comma-separated (any one will do: two during a rotation; none: no "
     "check); submit and status send the first. Never logged: give it by "
     "environment or config file"},
    {"max-body", DS_ROLE_GATEWAY, OPT_INT, "67108864", 1024, 1024 * MEBI,
     "largest HTTP request body in bytes (413 above)"},
    {"max-images", DS_ROLE_GATEWAY, OPT_INT, "16", 1, DS_PROTO_MAX_IMAGES,
     "most images in one task"},
    {"max-image-bytes", DS_ROLE_GATEWAY, OPT_INT, "20971520", 64, 512 * MEBI,
     "largest decoded image in bytes"},
    {"max-pixels", DS_ROLE_GATEWAY, OPT_INT, "60000000", 1, 1000000000,
     "most pixels (width x height) in one image"},
    {"ocr-threads", DS_ROLE_WORKER, OPT_INT, "0", 0, 256,
     "OCR threads, one tesseract engine each (0: one per core)"},
    {"lang", DS_ROLE_WORKER, OPT_STRING, "eng", 0, 0,
     "tesseract language(s), e.g. eng or eng+deu"},
    {"tessdata", DS_ROLE_WORKER, OPT_STRING, "", 0, 0,
     "tessdata directory (default: tesseract's own)"},
    {"worker-id", DS_ROLE_WORKER, OPT_STRING, "", 0, 0,
     "name reported with events (default: HOST-PID)"},
    {"prefetch", DS_ROLE_WORKER, OPT_INT, "1", 0, 64,
     "tasks a worker takes beyond those its OCR threads run"},
    {"llm-url", DS_ROLE_WORKER, OPT_STRING, "", 0, 0,
     "OpenAI-compatible API base, e.g. http://127.0.0.1:8081/v1 (none: "
     "offline extraction)"},
    {"llm-api-key", DS_ROLE_WORKER, OPT_STRING, "", 0, 0,
     "API key, sent as Authorization: Bearer (never logged)"},
    {"llm-model", DS_ROLE_WORKER, OPT_STRING, "gpt-4o-mini", 0, 0,
     "model name sent with each request"},
    {"llm-temperature", DS_ROLE_WORKER, OPT_STRING, "0", 0, 0,
     "sampling temperature"},
    {"llm-max-tokens", DS_ROLE_WORKER, OPT_INT, "0", 0, 1000000,
     "most tokens in a reply (0: the provider's default)"},
    {"llm-connect-timeout", DS_ROLE_WORKER, OPT_INT, "5000", 1, 600000,
     "ms to connect, per attempt"},
    {"llm-timeout", DS_ROLE_WORKER, OPT_INT, "60000", 1, 3600000,
     "ms for one whole attempt"},
    {"llm-deadline", DS_ROLE_WORKER, OPT_INT, "180000", 1, 86400000,
     "ms for all attempts of one call, backoff included"},
    {"llm-retries", DS_ROLE_WORKER, OPT_INT, "3", 0, 20,
     "retries after a failed attempt (timeouts, 429, 5xx, connection)"},
    {"llm-max-inflight", DS_ROLE_WORKER, OPT_INT, "32", 1, 1024,
     "LLM calls in flight at once per worker"},
    {"llm-response-format", DS_ROLE_WORKER, OPT_STRING, "json_schema", 0, 0,
     "json_schema or json_object (json_schema falls back by itself)"},
    {"prompts-dir", DS_ROLE_WORKER, OPT_STRING, "", 0, 0,
     "directory of the prompt files (default: prompts/ of the source)"},
    {"heartbeat-interval", DS_ROLE_WORKER, OPT_INT, "1000", 50, 60000,
     "ms between a worker's heartbeats for each task it holds"},
    {"drain-timeout", DS_ROLE_WORKER, OPT_INT, "30000", 0, 3600000,
     "ms a stopping worker waits for its tasks and their acks"},
    {"ocr-timeout", DS_ROLE_WORKER, OPT_INT, "120000", 100, 3600000,
     "ms tesseract may spend on one page"},
    {"lease-timeout", DS_ROLE_VENTILATOR, OPT_INT, "3000", 100, 3600000,
     "ms without a heartbeat before a running task is redelivered"},
    {"pickup-timeout", DS_ROLE_VENTILATOR, OPT_INT, "10000", 100, 3600000,
     "ms a dispatched task may wait for a worker to start it"},
    {"dispatch-window", DS_ROLE_VENTILATOR, OPT_INT, "2", 1, 1000,
     "tasks sent and not yet started, per live worker, at least (more "
     "when workers start more than that in 50 ms)"},
    {"max-attempts", DS_ROLE_VENTILATOR, OPT_INT, "3", 1, 100,
     "dispatches of a task before it ends in error (WORKER_LOST)"},
    {"task-timeout", DS_ROLE_VENTILATOR, OPT_INT, "600000", 1000, 86400000,
     "ms from first dispatch before a task ends in error (TIMEOUT)"},
    {"max-queue", DS_ROLE_GATEWAY, OPT_INT, "10000", 0, 100000000,
     "pending tasks at most; past it the gateway answers 503"},
    {"max-waiting", DS_ROLE_GATEWAY, OPT_INT, "512", 0, 1024,
     "status requests waiting for their task (?wait) at once; past it "
     "they are answered at once, so that waits cannot take every "
     "connection"},
    {"retention", DS_ROLE_SINK, OPT_INT, "86400", 0, 315360000,
     "seconds an ended task and its images are kept (0: forever)"},
    {"enable-echo", DS_ROLE_GATEWAY | DS_ROLE_WORKER, OPT_BOOL, "false", 0, 0,
     "accept 'echo' tasks (no OCR, no extraction): for benchmarks only"},
    {"batch-size", DS_ROLE_SINK, OPT_INT, "512", 1, 100000,
     "most events the sink commits in one transaction"},
    {"workers", DS_ROLE_UP, OPT_INT, "1", 1, 64, "worker processes to start"},
    {"url", DS_ROLE_CLIENT, OPT_STRING, "http://127.0.0.1:8080", 0, 0,
     "base URL of the gateway"},
    {"type", DS_ROLE_CLIENT, OPT_STRING, "document", 0, 0,
     "task type for submit: document or form"},
    {"priority", DS_ROLE_CLIENT, OPT_INT, "5", 0, 9,
     "task priority for submit, 9 most urgent"},
    {"wait", DS_ROLE_CLIENT, OPT_BOOL, "false", 0, 0,
     "submit and status: wait for the final state and print it"},
    {"timeout", DS_ROLE_CLIENT, OPT_INT, "600", 1, 86400,
     "seconds --wait waits before giving up"},
};
#define OPTION_COUNT (sizeof (s_options) / sizeof (s_options [0]))

//  Structure of our class

struct _ds_config_t {
    char *program;                //  program name for --help
    char *summary;                //  one-line description for --help
    int role;                     //  DS_ROLE_* bit of this program
    char *values [OPTION_COUNT];  //  effective values, index = table row
    zlist_t *args;                //  positional arguments (char *, owned)
};


//  --------------------------------------------------------------------------
//  Create a configuration with defaults

ds_config_t *
ds_config_new (const char *program, int role, const char *summary)
{
    ds_config_t *self = (ds_config_t *) zmalloc (sizeof (ds_config_t));
    assert (self);
    self->program = strdup (program);
    self->summary = strdup (summary ? summary : "");
    self->role = role;
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++)
        self->values [option_nbr] = strdup (s_options [option_nbr].value);
    self->args = zlist_new ();
    zlist_autofree (self->args);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the configuration

void
ds_config_destroy (ds_config_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_config_t *self = *self_p;
        zlist_destroy (&self->args);
        for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++)
            zstr_free (&self->values [option_nbr]);
        zstr_free (&self->summary);
        zstr_free (&self->program);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Find an option by name; -1 if there is none

static int
s_find (const char *name)
{
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++)
        if (streq (s_options [option_nbr].name, name))
            return (int) option_nbr;
    return -1;
}


//  --------------------------------------------------------------------------
//  Parse a boolean; returns 1, 0, or -1 when it is not one

static int
s_parse_bool (const char *value)
{
    if (streq (value, "1") || streq (value, "true") || streq (value, "yes")
        || streq (value, "on"))
        return 1;
    if (streq (value, "0") || streq (value, "false") || streq (value, "no")
        || streq (value, "off"))
        return 0;
    return -1;
}


//  --------------------------------------------------------------------------
//  Validate and store a value; prints the error and returns -1 if invalid

static int
s_store (ds_config_t *self, int index, const char *value, const char *origin)
{
    const option_t *option = &s_options [index];
    if (option->kind == OPT_INT) {
        char *end = NULL;
        errno = 0;
        long long number = strtoll (value, &end, 10);
        if (errno || end == value || *end || number < option->min
            || number > option->max) {
            fprintf (stderr,
                     "%s: %s: '%s' must be a whole number from "
                     "%" PRId64 " to %" PRId64 "\n",
                     self->program, origin, value, option->min, option->max);
            return -1;
        }
    }
    else if (option->kind == OPT_BOOL && s_parse_bool (value) < 0) {
        fprintf (stderr, "%s: %s: '%s' must be true or false\n", self->program,
                 origin, value);
        return -1;
    }
    zstr_free (&self->values [index]);
    self->values [index] = strdup (value);
    return 0;
}


//  --------------------------------------------------------------------------
//  Print --help

static void
s_print_help (ds_config_t *self)
{
    printf ("Usage: %s [OPTION]...%s\n%s\n\nOptions:\n", self->program,
            self->role == DS_ROLE_CLIENT ? " COMMAND [ARG]..." : "",
            self->summary);
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++) {
        const option_t *option = &s_options [option_nbr];
        if (!(option->roles & self->role))
            continue;
        char flag [CONFIG_NAME_MAX + 16];
        snprintf (flag, sizeof (flag), "--%s%s", option->name,
                  option->kind == OPT_BOOL ? "" : " VALUE");
        printf ("  %-26s %s", flag, option->help);
        if (*option->value && option->kind != OPT_BOOL)
            printf (" [%s]", option->value);
        printf ("\n");
    }
    printf ("  %-26s %s\n  %-26s %s\n", "-h, --help", "show this help",
            "--version", "show the version");
    printf ("\nEach option may also be set in the environment as "
            "DOCUSNAP_NAME\n(upper case, '-' as '_') or in the --config "
            "file as 'name = value'.\nFlags win over the environment, "
            "which wins over the file.\n");
}


//  --------------------------------------------------------------------------
//  Apply a ZPL config file

static int
s_load_file (ds_config_t *self, const char *path)
{
    if (!zsys_file_exists (path)) {
        fprintf (stderr, "%s: config file '%s' not found\n", self->program,
                 path);
        return -1;
    }
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        fprintf (stderr, "%s: config file '%s' is not valid ZPL\n",
                 self->program, path);
        return -1;
    }
    int rc = 0;
    zconfig_t *item = zconfig_child (root);
    while (item && rc == 0) {
        const char *name = zconfig_name (item);
        const char *value = zconfig_value (item);
        int index = s_find (name);
        if (index < 0)
            fprintf (stderr, "%s: %s: unknown option '%s' ignored\n",
                     self->program, path, name);
        else if ((s_options [index].roles & self->role) && value) {
            char *origin = zsys_sprintf ("%s: %s", path, name);
            rc = s_store (self, index, value, origin);
            zstr_free (&origin);
        }
        item = zconfig_next (item);
    }
    zconfig_destroy (&root);
    return rc;
}


//  --------------------------------------------------------------------------
//  Apply file, environment and flags

int
ds_config_load (ds_config_t *self, int argc, char **argv)
{
    assert (self);
    //  Flags are parsed first into a list, applied last
    zhash_t *flags = zhash_new ();
    zhash_autofree (flags);
    int rc = 0;
    for (int arg_nbr = 1; arg_nbr < argc && rc == 0; arg_nbr++) {
        const char *arg = argv [arg_nbr];
        if (streq (arg, "-h") || streq (arg, "--help")) {
            s_print_help (self);
            rc = 1;
        }
        else if (streq (arg, "--version")) {
            printf ("%s %s\n", self->program, DS_VERSION_STRING);
            rc = 1;
        }
        else if (streq (arg, "-v"))
            zhash_update (flags, "verbose", (void *) "true");
        else if (streq (arg, "--")) {
            while (++arg_nbr < argc)
                zlist_append (self->args, argv [arg_nbr]);
        }
        else if (strncmp (arg, "--", 2) == 0) {
            char name [CONFIG_NAME_MAX];
            const char *equals = strchr (arg, '=');
            size_t length =
                equals ? (size_t) (equals - arg - 2) : strlen (arg + 2);
            snprintf (name, sizeof (name), "%.*s", (int) length, arg + 2);
            bool negated = strncmp (name, "no-", 3) == 0 && !equals;
            int index = s_find (negated ? name + 3 : name);
            if (index < 0 || !(s_options [index].roles & self->role)) {
                fprintf (stderr, "%s: unknown option '--%s' (see --help)\n",
                         self->program, name);
                rc = -1;
            }
            else if (s_options [index].kind == OPT_BOOL && !equals)
                zhash_update (flags, s_options [index].name,
                              (void *) (negated ? "false" : "true"));
            else if (equals)
                zhash_update (flags, name, (void *) (equals + 1));
            else if (arg_nbr + 1 < argc)
                zhash_update (flags, name, argv [++arg_nbr]);
            else {
                fprintf (stderr, "%s: option '--%s' needs a value\n",
                         self->program, name);
                rc = -1;
            }
        }
        else if (*arg == '-' && arg [1]) {
            fprintf (stderr, "%s: unknown option '%s' (see --help)\n",
                     self->program, arg);
            rc = -1;
        }
        else
            zlist_append (self->args, (void *) arg);
    }
    //  Config file: flag, then environment
    if (rc == 0) {
        const char *path = (const char *) zhash_lookup (flags, "config");
        if (!path)
            path = getenv (CONFIG_ENV_PREFIX "CONFIG");
        if (path && *path) {
            rc = s_load_file (self, path);
            if (rc == 0)
                rc = s_store (self, s_find ("config"), path, "--config");
        }
    }
    //  Environment
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT && rc == 0;
         option_nbr++) {
        const option_t *option = &s_options [option_nbr];
        if (!(option->roles & self->role) || streq (option->name, "config"))
            continue;
        char env_name [CONFIG_NAME_MAX + 16];
        snprintf (env_name, sizeof (env_name), CONFIG_ENV_PREFIX "%s",
                  option->name);
        for (char *scan = env_name; *scan; scan++)
            *scan = *scan == '-' ? '_' : (char) toupper ((unsigned char) *scan);
        const char *value = getenv (env_name);
        if (value)
            rc = s_store (self, (int) option_nbr, value, env_name);
    }
    //  Flags
    const char *value = (const char *) zhash_first (flags);
    while (value && rc == 0) {
        const char *name = zhash_cursor (flags);
        char origin [CONFIG_NAME_MAX + 4];
        snprintf (origin, sizeof (origin), "--%s", name);
        rc = s_store (self, s_find (name), value, origin);
        value = (const char *) zhash_next (flags);
    }
    zhash_destroy (&flags);
    return rc;
}


//  --------------------------------------------------------------------------
//  Value of an option

const char *
ds_config_get (ds_config_t *self, const char *name)
{
    assert (self);
    int index = s_find (name);
    assert (index >= 0);
    return self->values [index];
}


//  --------------------------------------------------------------------------
//  Value as an integer

int64_t
ds_config_int (ds_config_t *self, const char *name)
{
    int index = s_find (name);
    assert (index >= 0 && s_options [index].kind == OPT_INT);
    return strtoll (self->values [index], NULL, 10);
}


//  --------------------------------------------------------------------------
//  Value as a boolean

bool
ds_config_bool (ds_config_t *self, const char *name)
{
    int index = s_find (name);
    assert (index >= 0 && s_options [index].kind == OPT_BOOL);
    return s_parse_bool (self->values [index]) == 1;
}


//  --------------------------------------------------------------------------
//  Set a value

int
ds_config_set (ds_config_t *self, const char *name, const char *value)
{
    int index = s_find (name);
    assert (index >= 0);
    return s_store (self, index, value, name);
}


//  --------------------------------------------------------------------------
//  Positional arguments

zlist_t *
ds_config_args (ds_config_t *self)
{
    return self->args;
}


//  --------------------------------------------------------------------------
//  Log the effective configuration

void
ds_config_log (ds_config_t *self)
{
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++) {
        const option_t *option = &s_options [option_nbr];
        if (!(option->roles & self->role))
            continue;
        //  Secrets are never logged, only whether they are set
        bool secret = streq (option->name, "llm-api-key")
                      || streq (option->name, "http-api-key");
        const char *value = self->values [option_nbr];
        zsys_info ("%s: CONFIG %s=%s", self->program, option->name,
                   secret ? (*value ? "(set)" : "(none)") : value);
    }
}


//  --------------------------------------------------------------------------
//  Markdown reference of every option

void
ds_config_print_reference (FILE *file)
{
    static const char *role_names [] = {"gateway", "ventilator", "worker",
                                        "sink",    "up",         "client"};
    fprintf (file, "| option | environment | default | programs | meaning |\n"
                   "|---|---|---|---|---|\n");
    for (size_t option_nbr = 0; option_nbr < OPTION_COUNT; option_nbr++) {
        const option_t *option = &s_options [option_nbr];
        char env_name [CONFIG_NAME_MAX + 16];
        snprintf (env_name, sizeof (env_name), CONFIG_ENV_PREFIX "%s",
                  option->name);
        for (char *scan = env_name; *scan; scan++)
            *scan = *scan == '-' ? '_' : (char) toupper ((unsigned char) *scan);
        char value [CONFIG_NAME_MAX + 4];
        snprintf (value, sizeof (value), *option->value ? "`%s`" : "(none)",
                  option->value);
        fprintf (file, "| `--%s` | `%s` | %s | ", option->name,
                 streq (option->name, "config") ? "DOCUSNAP_CONFIG" : env_name,
                 value);
        const char *separator = "";
        for (int role_nbr = 0; role_nbr < 6; role_nbr++)
            if (option->roles & (1 << role_nbr)) {
                fprintf (file, "%s%s", separator, role_names [role_nbr]);
                separator = ", ";
            }
        fprintf (file, " | %s |\n", option->help);
    }
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_config_test (bool verbose)
{
    printf (" * ds_config: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    ds_config_t *config =
        ds_config_new ("docusnap-gateway", DS_ROLE_GATEWAY, "test");
    assert (ds_config_int (config, "http-port") == 8080);
    assert (!ds_config_bool (config, "verbose"));

    char *path = zsys_sprintf ("/tmp/ds_config_test.%d.cfg", (int) getpid ());
    assert (ds_util_write_file (path, "# test\nhttp-port = 9001\n"
                                      "max-images = 4\nworkers = 3\n")
            == 0);
    setenv ("DOCUSNAP_MAX_IMAGES", "5", 1);
    char *argv [] = {"gw",    "--config", path, "-v", "--http-bind=0.0.0.0",
                     "extra", NULL};
    assert (ds_config_load (config, 6, argv) == 0);
    assert (ds_config_int (config, "http-port") == 9001);  //  file
    assert (ds_config_int (config, "max-images") == 5);    //  env over file
    assert (streq (ds_config_get (config, "http-bind"), "0.0.0.0"));
    assert (ds_config_bool (config, "verbose"));
    assert (zlist_size (ds_config_args (config)) == 1);
    assert (streq ((char *) zlist_first (ds_config_args (config)), "extra"));
    ds_config_destroy (&config);

    //  Flag wins over environment
    config = ds_config_new ("gw", DS_ROLE_GATEWAY, "test");
    char *argv2 [] = {"gw", "--max-images", "7", NULL};
    assert (ds_config_load (config, 3, argv2) == 0);
    assert (ds_config_int (config, "max-images") == 7);
    ds_config_destroy (&config);
    unsetenv ("DOCUSNAP_MAX_IMAGES");

    //  Bad values, unknown and foreign options are errors
    config = ds_config_new ("gw", DS_ROLE_GATEWAY, "test");
    char *argv3 [] = {"gw", "--http-port", "70000", NULL};
    assert (ds_config_load (config, 3, argv3) == -1);
    char *argv4 [] = {"gw", "--workers", "2", NULL};
    assert (ds_config_load (config, 3, argv4) == -1);
    char *argv5 [] = {"gw", "--http-port", NULL};
    assert (ds_config_load (config, 2, argv5) == -1);
    assert (ds_config_set (config, "http-port", "12x") == -1);
    assert (ds_config_set (config, "http-port", "0") == 0);
    ds_config_destroy (&config);

    unlink (path);
    zstr_free (&path);
    //  @end
    printf ("OK\n");
}
