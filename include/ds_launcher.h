/*  =========================================================================
    ds_launcher - start the four services as processes and wire them up

    Used by `docusnap up`, the benchmark and the integration tests. The
    internal sockets bind on random loopback ports above the kernel's range
    for outgoing connections, and each service writes the
    ports it got to its ready file (the handshake); the launcher reads
    them and passes them on. Once known, an endpoint stays fixed, so a
    restarted service binds the same port again.
    =========================================================================
*/

#ifndef DS_LAUNCHER_H_INCLUDED
#define DS_LAUNCHER_H_INCLUDED

typedef struct _ds_launcher_t ds_launcher_t;

#define DS_LAUNCHER_MAX 72  //  services at most (4 + 64 workers + spare)

#ifdef __cplusplus
extern "C" {
#endif

//  Create a launcher for binaries in bin_dir; ready files (and logs, with
//  ds_launcher_set_logs) go in run_dir, which it creates.
ds_launcher_t *ds_launcher_new (const char *bin_dir, const char *run_dir);

//  Stop everything still running and destroy the launcher
void ds_launcher_destroy (ds_launcher_t **self_p);

//  Send each service's stdout and stderr to RUN_DIR/NAME.log
void ds_launcher_set_logs (ds_launcher_t *self, bool logs);

//  Add a flag ("--name=value") for a role: "sink", "ventilator",
//  "gateway", "worker", or "store" (sink, ventilator and gateway), or
//  "all". Call before ds_launcher_start.
void
ds_launcher_add_arg (ds_launcher_t *self, const char *role, const char *arg);

//  Start sink, ventilator, gateway and workers, each after the one it
//  needs is ready. Returns 0, or -1 (logged) if one did not come up.
int ds_launcher_start (ds_launcher_t *self, int workers);

//  Start one more worker, wired to the running services. Returns 0 or -1.
int ds_launcher_start_worker (ds_launcher_t *self);

//  The gateway's URL, or an endpoint by its ready-file name ("events",
//  "publish", "queue", "dispatch"); NULL if not known.
const char *ds_launcher_url (ds_launcher_t *self);
const char *ds_launcher_endpoint (ds_launcher_t *self, const char *name);

//  The running process of a service ("sink", "worker-2"), 0 if none
pid_t ds_launcher_pid (ds_launcher_t *self, const char *name);

//  Log file of a service (with logs on), borrowed
const char *ds_launcher_log (ds_launcher_t *self, const char *name);

//  Start a service again (it must not be running). Waits until it is
//  ready. Returns 0 or -1.
int ds_launcher_restart (ds_launcher_t *self, const char *name);

//  Reap services that exited; with restart, start them again after a
//  growing delay (0.5 s doubling to 10 s, reset after 30 s of life).
//  Call often. Returns how many exited since the last call.
int ds_launcher_supervise (ds_launcher_t *self, bool restart);

//  Wait up to timeout_ms for a service to exit (after a signal sent to
//  its pid). Returns its exit status (128 + signal if killed), or -1 if
//  it did not exit in time or is not running.
int
ds_launcher_wait (ds_launcher_t *self, const char *name, int64_t timeout_ms);

//  Stop every service, front to back, with SIGTERM, and SIGKILL what is
//  still running after timeout_ms. Returns 0 if every one exited 0.
int ds_launcher_stop (ds_launcher_t *self, int64_t timeout_ms);

//  Self test of this class
void ds_launcher_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
