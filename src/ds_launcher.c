/*  =========================================================================
    ds_launcher - start the four services as processes and wire them up

    @header
    Start order follows the sockets: the sink binds events and publish;
    the ventilator binds queue and dispatch and connects to the sink; the
    gateway connects to both; workers connect to all three. A service is
    started with --ready-file and waited for until that file appears, or
    until it exits (then its log says why).
    @end
    =========================================================================
*/

#include "ds_classes.h"
#include <fcntl.h>
#include <sys/prctl.h>

#define LAUNCHER_READY_MS 60000
#define LAUNCHER_RESTART_MIN_MS 500
#define LAUNCHER_RESTART_MAX_MS 10000
#define LAUNCHER_STABLE_MS 30000
#define LAUNCHER_MAX_ARGS 64

//  One service process

typedef struct {
    char *name;                      //  "sink", "worker-1", ...
    char *program;                   //  "docusnap-sink", ...
    char *args [LAUNCHER_MAX_ARGS];  //  its flags, NULL-terminated
    int arg_count;                   //  how many
    char *ready_file;                //  where it writes its endpoints
    char *log_file;                  //  where its output goes, or NULL
    pid_t pid;                       //  running process, 0 if none
    int64_t started;                 //  mono ms it last started
    int64_t restart_at;              //  mono ms to start it again, 0 if not due
    int64_t delay;                   //  next restart delay
} service_t;

//  Structure of our class

struct _ds_launcher_t {
    char *bin_dir;                         //  where the binaries are
    char *run_dir;                         //  ready files and logs
    bool logs;                             //  redirect output to files
    zlistx_t *extra;                       //  "role\targ" strings
    service_t services [DS_LAUNCHER_MAX];  //  in start order
    int count;                             //  services defined
    zhashx_t *endpoints;                   //  name -> endpoint (char *)
};


//  --------------------------------------------------------------------------
//  Create a launcher

ds_launcher_t *
ds_launcher_new (const char *bin_dir, const char *run_dir)
{
    ds_launcher_t *self = (ds_launcher_t *) zmalloc (sizeof (ds_launcher_t));
    assert (self);
    self->bin_dir = strdup (bin_dir);
    self->run_dir = strdup (run_dir);
    ds_util_mkdir_p (run_dir);
    self->extra = zlistx_new ();
    zlistx_set_duplicator (self->extra, (zlistx_duplicator_fn *) strdup);
    zlistx_set_destructor (self->extra, (zlistx_destructor_fn *) zstr_free);
    self->endpoints = zhashx_new ();
    zhashx_set_duplicator (self->endpoints, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->endpoints, (zhashx_destructor_fn *) zstr_free);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the launcher, stopping what runs

void
ds_launcher_destroy (ds_launcher_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_launcher_t *self = *self_p;
        ds_launcher_stop (self, LAUNCHER_READY_MS);
        for (int index = 0; index < self->count; index++) {
            service_t *service = &self->services [index];
            for (int arg_nbr = 0; arg_nbr < service->arg_count; arg_nbr++)
                zstr_free (&service->args [arg_nbr]);
            zstr_free (&service->name);
            zstr_free (&service->program);
            zstr_free (&service->ready_file);
            zstr_free (&service->log_file);
        }
        zhashx_destroy (&self->endpoints);
        zlistx_destroy (&self->extra);
        zstr_free (&self->bin_dir);
        zstr_free (&self->run_dir);
        free (self);
        *self_p = NULL;
    }
}


void
ds_launcher_set_logs (ds_launcher_t *self, bool logs)
{
    self->logs = logs;
}

void
ds_launcher_add_arg (ds_launcher_t *self, const char *role, const char *arg)
{
    char *line = zsys_sprintf ("%s\t%s", role, arg);
    zlistx_add_end (self->extra, line);
    zstr_free (&line);
}


//  --------------------------------------------------------------------------
//  Add a flag to a service

static void
s_arg (service_t *service, const char *format, ...)
{
    assert (service->arg_count < LAUNCHER_MAX_ARGS - 1);
    va_list args;
    va_start (args, format);
    char *arg = zsys_vprintf (format, args);
    va_end (args);
    service->args [service->arg_count++] = arg;
}


//  --------------------------------------------------------------------------
//  Define a service with the extra flags of its role

static service_t *
s_define (ds_launcher_t *self, const char *role, const char *name)
{
    assert (self->count < DS_LAUNCHER_MAX);
    service_t *service = &self->services [self->count++];
    service->name = strdup (name);
    service->program = zsys_sprintf ("docusnap-%s", role);
    service->ready_file = zsys_sprintf ("%s/%s.ready", self->run_dir, name);
    if (self->logs)
        service->log_file = zsys_sprintf ("%s/%s.log", self->run_dir, name);
    service->delay = LAUNCHER_RESTART_MIN_MS;
    bool store = !streq (role, "worker");
    for (const char *line = (const char *) zlistx_first (self->extra); line;
         line = (const char *) zlistx_next (self->extra)) {
        const char *tab = strchr (line, '\t');
        size_t length = (size_t) (tab - line);
        if ((length == 3 && strncmp (line, "all", 3) == 0)
            || (store && length == 5 && strncmp (line, "store", 5) == 0)
            || (length == strlen (role) && strncmp (line, role, length) == 0))
            s_arg (service, "%s", tab + 1);
    }
    return service;
}


//  --------------------------------------------------------------------------
//  Start a service's process

static int
s_spawn (ds_launcher_t *self, service_t *service)
{
    unlink (service->ready_file);
    char *path = zsys_sprintf ("%s/%s", self->bin_dir, service->program);
    char *ready = zsys_sprintf ("--ready-file=%s", service->ready_file);
    char *argv [LAUNCHER_MAX_ARGS + 2];
    int argc = 0;
    argv [argc++] = path;
    for (int arg_nbr = 0; arg_nbr < service->arg_count; arg_nbr++)
        argv [argc++] = service->args [arg_nbr];
    argv [argc++] = ready;
    argv [argc] = NULL;
    pid_t pid = fork ();
    if (pid == 0) {
        //  Own process group: a terminal's Ctrl-C reaches only the
        //  launcher, which stops services in order; SIGTERM if it dies
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (service->log_file) {
            int fd =
                open (service->log_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2 (fd, STDOUT_FILENO);
                dup2 (fd, STDERR_FILENO);
                close (fd);
            }
        }
        execv (path, argv);
        fprintf (stderr, "ds_launcher: cannot run %s: %s\n", path,
                 strerror (errno));
        _exit (127);
    }
    zstr_free (&ready);
    zstr_free (&path);
    if (pid < 0)
        return -1;
    service->pid = pid;
    service->started = zclock_mono ();
    service->restart_at = 0;
    return 0;
}


//  --------------------------------------------------------------------------
//  Wait for a service's ready file and note its endpoints

static int
s_wait_ready (ds_launcher_t *self, service_t *service)
{
    int64_t deadline = zclock_mono () + LAUNCHER_READY_MS;
    while (!zsys_file_exists (service->ready_file)) {
        int status;
        if (waitpid (service->pid, &status, WNOHANG) == service->pid) {
            zsys_error ("ds_launcher: START-FAIL service=%s status=%d%s%s",
                        service->name, status, service->log_file ? " log=" : "",
                        service->log_file ? service->log_file : "");
            service->pid = 0;
            return -1;
        }
        if (zclock_mono () > deadline || zsys_interrupted) {
            zsys_error ("ds_launcher: START-TIMEOUT service=%s", service->name);
            return -1;
        }
        zclock_sleep (10);  //  the file is the handshake; poll for it
    }
    zchunk_t *chunk = zchunk_slurp (service->ready_file, 0);
    char *text = chunk ? zchunk_strdup (chunk) : strdup ("");
    zchunk_destroy (&chunk);
    char *state = NULL;
    for (char *line = strtok_r (text, "\n", &state); line;
         line = strtok_r (NULL, "\n", &state)) {
        char *equals = strchr (line, '=');
        if (equals) {
            *equals = 0;
            //  A worker's line names the worker, not an endpoint
            if (!streq (line, "worker"))
                zhashx_update (self->endpoints, line, equals + 1);
        }
    }
    zstr_free (&text);
    return 0;
}


//  --------------------------------------------------------------------------
//  Start a defined service and wait for it

static int
s_start (ds_launcher_t *self, service_t *service)
{
    if (s_spawn (self, service))
        return -1;
    return s_wait_ready (self, service);
}


//  --------------------------------------------------------------------------
//  A loopback endpoint for a service to bind, on a random port above the
//  kernel's range for outgoing connections: a port the launcher hands out
//  is bound again when its service restarts, and while it is down, a port
//  in that range can be taken as the source port of some connection (or
//  of a reconnecting client connecting to itself).

static void
s_internal_endpoint (char *endpoint, size_t size)
{
    int first = 0, last = 0;
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        if (fscanf (file, "%d %d", &first, &last) != 2)
            last = 0;
        fclose (file);
    }
    if (last > 0 && last < 65000)
        snprintf (endpoint, size, "tcp://127.0.0.1:![%d-65535]", last + 1);
    else
        snprintf (endpoint, size, "tcp://127.0.0.1:!");
}


//  --------------------------------------------------------------------------
//  Start the pipeline

int
ds_launcher_start (ds_launcher_t *self, int workers)
{
    assert (self->count == 0);
    char internal [64];
    s_internal_endpoint (internal, sizeof (internal));
    service_t *sink = s_define (self, "sink", "sink");
    s_arg (sink, "--events-endpoint=%s", internal);
    s_arg (sink, "--publish-endpoint=%s", internal);
    if (s_start (self, sink))
        return -1;
    const char *events = ds_launcher_endpoint (self, "events");
    const char *publish = ds_launcher_endpoint (self, "publish");
    //  Bind the same ports again after a restart
    sink->arg_count -= 2;
    zstr_free (&sink->args [sink->arg_count]);
    zstr_free (&sink->args [sink->arg_count + 1]);
    s_arg (sink, "--events-endpoint=%s", events);
    s_arg (sink, "--publish-endpoint=%s", publish);

    service_t *ventilator = s_define (self, "ventilator", "ventilator");
    s_arg (ventilator, "--events-endpoint=%s", events);
    s_arg (ventilator, "--publish-endpoint=%s", publish);
    s_arg (ventilator, "--queue-endpoint=%s", internal);
    s_arg (ventilator, "--dispatch-endpoint=%s", internal);
    if (s_start (self, ventilator))
        return -1;
    const char *queue = ds_launcher_endpoint (self, "queue");
    const char *dispatch = ds_launcher_endpoint (self, "dispatch");
    ventilator->arg_count -= 2;
    zstr_free (&ventilator->args [ventilator->arg_count]);
    zstr_free (&ventilator->args [ventilator->arg_count + 1]);
    s_arg (ventilator, "--queue-endpoint=%s", queue);
    s_arg (ventilator, "--dispatch-endpoint=%s", dispatch);

    service_t *gateway = s_define (self, "gateway", "gateway");
    s_arg (gateway, "--events-endpoint=%s", events);
    s_arg (gateway, "--publish-endpoint=%s", publish);
    s_arg (gateway, "--queue-endpoint=%s", queue);
    s_arg (gateway, "--front-endpoint=%s", internal);
    if (s_start (self, gateway))
        return -1;

    for (int worker_nbr = 1; worker_nbr <= workers; worker_nbr++)
        if (ds_launcher_start_worker (self))
            return -1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Start one more worker

int
ds_launcher_start_worker (ds_launcher_t *self)
{
    const char *dispatch = ds_launcher_endpoint (self, "dispatch");
    const char *events = ds_launcher_endpoint (self, "events");
    const char *publish = ds_launcher_endpoint (self, "publish");
    if (!dispatch || !events || !publish || self->count >= DS_LAUNCHER_MAX)
        return -1;
    int workers = 0;
    for (int index = 0; index < self->count; index++)
        workers += strncmp (self->services [index].name, "worker-", 7) == 0;
    char *name = zsys_sprintf ("worker-%d", workers + 1);
    service_t *worker = s_define (self, "worker", name);
    zstr_free (&name);
    s_arg (worker, "--dispatch-endpoint=%s", dispatch);
    s_arg (worker, "--events-endpoint=%s", events);
    s_arg (worker, "--publish-endpoint=%s", publish);
    return s_start (self, worker);
}


const char *
ds_launcher_url (ds_launcher_t *self)
{
    return ds_launcher_endpoint (self, "http");
}

const char *
ds_launcher_endpoint (ds_launcher_t *self, const char *name)
{
    return (const char *) zhashx_lookup (self->endpoints, name);
}


//  --------------------------------------------------------------------------
//  Find a service by name

static service_t *
s_find (ds_launcher_t *self, const char *name)
{
    for (int index = 0; index < self->count; index++)
        if (streq (self->services [index].name, name))
            return &self->services [index];
    return NULL;
}

pid_t
ds_launcher_pid (ds_launcher_t *self, const char *name)
{
    service_t *service = s_find (self, name);
    return service ? service->pid : 0;
}

const char *
ds_launcher_log (ds_launcher_t *self, const char *name)
{
    service_t *service = s_find (self, name);
    return service ? service->log_file : NULL;
}


//  --------------------------------------------------------------------------
//  Start a service again

int
ds_launcher_restart (ds_launcher_t *self, const char *name)
{
    service_t *service = s_find (self, name);
    if (!service)
        return -1;
    if (service->pid > 0) {
        int status;
        if (waitpid (service->pid, &status, WNOHANG) == 0)
            return -1;  //  still running
        service->pid = 0;
    }
    return s_start (self, service);
}


//  --------------------------------------------------------------------------
//  Reap and restart

int
ds_launcher_supervise (ds_launcher_t *self, bool restart)
{
    int exited = 0;
    int64_t now = zclock_mono ();
    for (int index = 0; index < self->count; index++) {
        service_t *service = &self->services [index];
        int status;
        if (service->pid > 0
            && waitpid (service->pid, &status, WNOHANG) == service->pid) {
            exited++;
            service->pid = 0;
            if (now - service->started > LAUNCHER_STABLE_MS)
                service->delay = LAUNCHER_RESTART_MIN_MS;
            zsys_warning (
                "ds_launcher: EXITED service=%s %s=%d%s", service->name,
                WIFSIGNALED (status) ? "signal" : "status",
                WIFSIGNALED (status) ? WTERMSIG (status) : WEXITSTATUS (status),
                restart ? ", restarting" : "");
            if (restart) {
                service->restart_at = now + service->delay;
                service->delay = service->delay * 2 > LAUNCHER_RESTART_MAX_MS
                                     ? LAUNCHER_RESTART_MAX_MS
                                     : service->delay * 2;
            }
        }
        if (restart && service->pid == 0 && service->restart_at
            && now >= service->restart_at) {
            if (s_spawn (self, service) == 0)
                zsys_notice ("ds_launcher: RESTARTED service=%s pid=%d",
                             service->name, (int) service->pid);
            else
                service->restart_at = now + service->delay;
        }
    }
    return exited;
}


//  --------------------------------------------------------------------------
//  Wait for a service to exit

int
ds_launcher_wait (ds_launcher_t *self, const char *name, int64_t timeout_ms)
{
    service_t *service = s_find (self, name);
    if (!service || service->pid <= 0)
        return -1;
    int64_t deadline = zclock_mono () + timeout_ms;
    int status;
    pid_t done;
    while ((done = waitpid (service->pid, &status, WNOHANG)) == 0
           && zclock_mono () < deadline)
        zclock_sleep (10);
    if (done != service->pid)
        return -1;
    service->pid = 0;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}


//  --------------------------------------------------------------------------
//  Stop everything, front to back

int
ds_launcher_stop (ds_launcher_t *self, int64_t timeout_ms)
{
    int rc = 0;
    //  Gateway and workers first, then ventilator, then the sink, so
    //  that what the workers finish still reaches the sink
    int order [DS_LAUNCHER_MAX];
    int count = 0;
    for (int index = self->count - 1; index >= 0; index--)
        order [count++] = index;
    for (int position = 0; position < count; position++) {
        service_t *service = &self->services [order [position]];
        if (service->pid <= 0)
            continue;
        kill (service->pid, SIGTERM);
        int status = 0;
        pid_t done;
        int64_t deadline = zclock_mono () + timeout_ms;
        while ((done = waitpid (service->pid, &status, WNOHANG)) == 0
               && zclock_mono () < deadline)
            zclock_sleep (10);
        if (done == 0) {
            zsys_error ("ds_launcher: STOP-TIMEOUT service=%s, killing it",
                        service->name);
            kill (service->pid, SIGKILL);
            waitpid (service->pid, &status, 0);
            rc = -1;
        }
        else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
            zsys_error ("ds_launcher: STOP-FAIL service=%s status=%d",
                        service->name, status);
            rc = -1;
        }
        service->pid = 0;
        service->restart_at = 0;
    }
    return rc;
}


//  --------------------------------------------------------------------------
//  Self test: the real binaries are exercised by it.* tests; here, a
//  launcher with no binaries fails cleanly

void
ds_launcher_test (bool verbose)
{
    printf (" * ds_launcher: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char *run_dir = zsys_sprintf ("/tmp/ds_launcher_test.%d", (int) getpid ());
    ds_launcher_t *launcher = ds_launcher_new ("/nonexistent", run_dir);
    ds_launcher_set_logs (launcher, true);
    ds_launcher_add_arg (launcher, "store", "--data-dir=/tmp");
    assert (ds_launcher_start (launcher, 1) == -1);
    assert (ds_launcher_url (launcher) == NULL);
    assert (ds_launcher_pid (launcher, "sink") == 0);
    assert (ds_launcher_restart (launcher, "nobody") == -1);
    assert (ds_launcher_stop (launcher, 1000) == 0);
    ds_launcher_destroy (&launcher);
    char *command = zsys_sprintf ("rm -rf '%s'", run_dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (&run_dir);
    //  @end
    printf ("OK\n");
}
