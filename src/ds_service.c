/*  =========================================================================
    ds_service - the common life of a docusnap service process

    @header
    Loads configuration, runs the service actor, writes the ready file,
    and turns SIGINT/SIGTERM into a clean $TERM for the actor.
    @end
    =========================================================================
*/

#include "ds_classes.h"

//  A context option of libzmq 4.3 (zmq.h shows it only with the draft API)
#ifndef ZMQ_ZERO_COPY_RECV
#define DS_ZMQ_ZERO_COPY_RECV 10
#else
#define DS_ZMQ_ZERO_COPY_RECV ZMQ_ZERO_COPY_RECV
#endif


//  --------------------------------------------------------------------------
//  The service actor, and what it needs after it returns

typedef struct {
    zactor_fn *actor;     //  the service's actor
    ds_config_t *config;  //  its argument
} service_actor_t;

static void
s_service_actor (zsock_t *pipe, void *args)
{
    service_actor_t *service = (service_actor_t *) args;
    service->actor (pipe, service->config);
    //  czmq's actor threads are detached: free this thread's OpenSSL state
    //  (EVP digests, libcurl) before the actor reports it is done, not in
    //  a thread-exit handler that races OPENSSL_cleanup at process exit
    //  (ASan saw that double free once the gateway hashed in its actor)
    OPENSSL_thread_stop ();
}


//  --------------------------------------------------------------------------
//  Run a service

int
ds_service_main (int argc,
                 char **argv,
                 const char *program,
                 int role,
                 const char *summary,
                 zactor_fn *actor_fn)
{
    ds_config_t *config = ds_config_new (program, role, summary);
    int rc = ds_config_load (config, argc, argv);
    if (rc != 0) {
        ds_config_destroy (&config);
        return rc == 1 ? 0 : 2;
    }
    if (zlist_size (ds_config_args (config))) {
        fprintf (stderr, "%s: unexpected argument '%s' (see --help)\n", program,
                 (char *) zlist_first (ds_config_args (config)));
        ds_config_destroy (&config);
        return 2;
    }
    //  With TZ unset, glibc's localtime stats /etc/localtime on every call,
    //  that is on every log line; set, it reads the zone once
    if (!getenv ("TZ"))
        setenv ("TZ", ":/etc/localtime", 0);
    tzset ();
    void *context = zsys_init ();
    //  libzmq's receive path by default leaves small messages in the 8 KB
    //  buffer each read filled, shared, so one message still queued keeps
    //  the whole buffer: a backlog read in small pieces holds a buffer per
    //  piece, and the sink's memory grew 10 to 14 % over a run with
    //  bursts (docs/BENCHMARKS.md, "Memory"). Copied out,
    //  each message holds only its own bytes; large messages (images)
    //  are still read straight into their own buffer. A libzmq that does
    //  not know the option refuses it, and keeps its default.
    if (zmq_ctx_set (context, DS_ZMQ_ZERO_COPY_RECV, 0))
        zsys_debug ("%s: ZMQ_ZERO_COPY_RECV not known to this libzmq", program);
    zsys_set_logident (program);
    //  zsys_init installed czmq's SIGINT/SIGTERM handler: it sets
    //  zsys_interrupted, and the poller below wakes up
    if (ds_config_bool (config, "verbose"))
        ds_config_log (config);

    service_actor_t service = {actor_fn, config};
    zactor_t *actor = zactor_new (s_service_actor, &service);
    assert (actor);
    int exit_code = 0;
    char *status = zstr_recv (actor);
    if (status && streq (status, "READY")) {
        //  Collect endpoint frames for the ready file
        char *text = strdup ("");
        zsock_set_rcvtimeo (actor, 0);
        char *line;
        while (zsock_rcvmore (actor) && (line = zstr_recv (actor))) {
            char *joined = zsys_sprintf ("%s%s\n", text, line);
            zsys_info ("%s: READY %s", program, line);
            zstr_free (&text);
            zstr_free (&line);
            text = joined;
        }
        zsock_set_rcvtimeo (actor, -1);
        const char *ready_file = ds_config_get (config, "ready-file");
        if (*ready_file && ds_util_write_file (ready_file, text))
            zsys_error ("%s: READY-FILE-FAIL path=%s", program, ready_file);
        zstr_free (&text);
        //  Wait for a signal, or for the actor to fail later on
        zpoller_t *poller = zpoller_new (actor, NULL);
        while (!zsys_interrupted) {
            void *which = zpoller_wait (poller, -1);
            if (which == actor) {
                char *message = zstr_recv (actor);
                bool failed = message && streq (message, "FAILED");
                zstr_free (&message);
                if (failed) {
                    exit_code = 1;
                    break;
                }
            }
        }
        zpoller_destroy (&poller);
        if (exit_code == 0)
            zsys_notice ("%s: STOPPING signal received", program);
    }
    else {
        char *reason = status ? zstr_recv (actor) : NULL;
        zsys_error ("%s: START-FAIL %s", program, reason ? reason : "");
        zstr_free (&reason);
        exit_code = 1;
    }
    zstr_free (&status);
    zactor_destroy (&actor);
    zsys_notice ("%s: STOPPED exit=%d", program, exit_code);
    ds_config_destroy (&config);
    return exit_code;
}


//  --------------------------------------------------------------------------
//  Send READY and the endpoints

void
ds_service_ready (zsock_t *pipe, const char **endpoints)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "READY");
    for (const char **line = endpoints; *line; line++)
        zmsg_addstr (msg, *line);
    zmsg_send (&msg, pipe);
}


//  --------------------------------------------------------------------------
//  Send FAILED and a reason

void
ds_service_failed (zsock_t *pipe, const char *reason)
{
    zstr_sendx (pipe, "FAILED", reason, NULL);
}


//  --------------------------------------------------------------------------
//  Wait for $TERM: an actor that failed to start stays until destroyed

void
ds_service_await_term (zsock_t *pipe)
{
    char *command;
    while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
        zstr_free (&command);
    zstr_free (&command);
}


//  --------------------------------------------------------------------------
//  CURVE settings, or FAILED

ds_curve_t *
ds_service_curve (zsock_t *pipe, ds_config_t *config, const char *name)
{
    char *reason = NULL;
    ds_curve_t *curve = ds_curve_new (config, &reason);
    if (curve)
        ds_curve_log (curve, name);
    else {
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    return curve;
}


//  --------------------------------------------------------------------------
//  Open the service's store at db_path (NULL: none), waiting
//  store-busy-timeout ms for another service's lock

ds_store_t *
ds_service_store (ds_config_t *config, const char *db_path)
{
    ds_store_t *store = db_path ? ds_store_new (db_path) : NULL;
    if (store)
        ds_store_set_busy_timeout (
            store, (int) ds_config_int (config, "store-busy-timeout"));
    return store;
}


//  --------------------------------------------------------------------------
//  Database path

char *
ds_service_db_path (ds_config_t *config)
{
    const char *data_dir = ds_config_get (config, "data-dir");
    const char *db = ds_config_get (config, "db");
    if (ds_util_mkdir_p (data_dir) && !*db) {
        zsys_error ("ds_service: MKDIR-FAIL path=%s error=%s", data_dir,
                    strerror (errno));
        return NULL;
    }
    return *db ? strdup (db) : zsys_sprintf ("%s/docusnap.db", data_dir);
}
