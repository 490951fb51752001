/*  =========================================================================
    ds_service - the common life of a docusnap service process

    Every service main is one call to ds_service_main. It loads the
    configuration for the role, sets the log identity, starts the service
    actor with the configuration as its argument, and waits. The actor
    sends "READY" followed by one "name=endpoint" frame per socket it bound
    (these go to --ready-file), or "FAILED" and a reason. SIGINT or SIGTERM
    sends $TERM to the actor, which finishes what it holds and exits.

    Actor contract: void actor (zsock_t *pipe, void *args), args is the
    borrowed ds_config_t *; call zsock_signal (pipe, 0) first, then send
    READY or FAILED, and ignore interrupts (zpoller_set_nonstop).
    =========================================================================
*/

#ifndef DS_SERVICE_H_INCLUDED
#define DS_SERVICE_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  Run a service to completion. Returns the process exit code: 0 after a
//  clean stop or --help, 1 if the service failed, 2 on a usage error.
int ds_service_main (int argc,
                     char **argv,
                     const char *program,
                     int role,
                     const char *summary,
                     zactor_fn *actor);

//  Send READY with the given NULL-terminated list of "name=value" strings
//  to the pipe; for actors.
void ds_service_ready (zsock_t *pipe, const char **endpoints);

//  Send FAILED with a reason to the pipe; for actors.
void ds_service_failed (zsock_t *pipe, const char *reason);

//  After ds_service_failed, wait for the caller's $TERM; for actors.
void ds_service_await_term (zsock_t *pipe);

//  The service's CURVE settings (ds_curve), logged under name; if they
//  cannot be used, sends FAILED with the reason and returns NULL.
ds_curve_t *
ds_service_curve (zsock_t *pipe, ds_config_t *config, const char *name);

//  Resolve the database path from the data-dir and db options, creating
//  the data directory. Returns a new string, or NULL if the directory
//  cannot be created.
char *ds_service_db_path (ds_config_t *config);

//  Open the store at db_path (from ds_service_db_path; NULL gives NULL)
//  with the store-busy-timeout option. NULL, logged, if it cannot be
//  opened.
ds_store_t *ds_service_store (ds_config_t *config, const char *db_path);

#ifdef __cplusplus
}
#endif

#endif
