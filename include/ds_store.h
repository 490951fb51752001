/*  =========================================================================
    ds_store - the task store: one SQLite database in WAL mode

    Gateway, ventilator and sink each open their own ds_store on the same
    file. The gateway inserts tasks and reads status, the ventilator reads
    pending tasks and their inputs, the sink applies worker events. Every
    statement is prepared once; no transaction is held across a socket call.

    Task states: pending -> processing -> completed | error (| cancelled).
    =========================================================================
*/

#ifndef DS_STORE_H_INCLUDED
#define DS_STORE_H_INCLUDED

#define DS_STORE_SCHEMA_VERSION 2

#ifdef __cplusplus
extern "C" {
#endif

//  Open (and if need be create) the database at path. Returns NULL, with
//  the reason logged, if it cannot be opened or has a newer schema.
ds_store_t *ds_store_new (const char *path);

//  Close the database
void ds_store_destroy (ds_store_t **self_p);

//  Delete a database file with its WAL and shared-memory files, once no
//  store has it open.
void ds_store_remove (const char *path);

//  Commits of this connection survive a power cut (synchronous=FULL, an
//  fsync per commit), or only a process crash (NORMAL, the default in WAL
//  mode). The gateway's is durable: its commit is the 202 promise.
int ds_store_set_durable (ds_store_t *self, bool durable);

//  Milliseconds to wait for another connection's lock (a write batch of
//  another service) before a statement fails as busy; 10 000 by default.
//  The wait is in pauses of 10 to 200 microseconds.
void ds_store_set_busy_timeout (ds_store_t *self, int msecs);

//  Pauses this connection made so far waiting for another's lock
uint64_t ds_store_busy_waits (ds_store_t *self);

//  Last SQLite error message of this connection
const char *ds_store_error (ds_store_t *self);

//  Insert a new pending task and its images in one transaction. images is
//  an array of count chunks (borrowed); form and file_lib are JSON text or
//  NULL. Returns 0 once committed, -1 on failure (nothing stored).
int ds_store_insert_task (ds_store_t *self,
                          const char *task_id,
                          const char *task_type,
                          int priority,
                          zchunk_t **images,
                          size_t count,
                          const char *form,
                          const char *file_lib);

//  The same, with an idempotency key (NULL for none): a second insert with
//  a key already stored fails (-1) and stores nothing. content_hash is
//  the inputs' ds_store_content_hash, or NULL to have it computed here: a
//  caller that batches inserts in one write transaction computes it
//  before the transaction begins, so that the lock is not held while
//  SHA-256 reads the photographs.
int ds_store_insert_keyed (ds_store_t *self,
                           const char *task_id,
                           const char *task_type,
                           int priority,
                           zchunk_t **images,
                           size_t count,
                           const char *form,
                           const char *file_lib,
                           const char *idempotency_key,
                           const char *content_hash);

//  The content hash stored with a task: SHA-256 over its images, form and
//  file library in that order, as DS_STORE_HASH_SIZE - 1 hex digits and a
//  null into digest.
#define DS_STORE_HASH_SIZE 65
void ds_store_content_hash (zchunk_t **images,
                            size_t count,
                            const char *form,
                            const char *file_lib,
                            char *digest);

//  The id of the task stored under an idempotency key, as a new string,
//  or NULL if there is none.
char *ds_store_task_by_key (ds_store_t *self, const char *idempotency_key);

//  Status of a task as a new JSON object the caller owns, in the shape of
//  GET /api/task_status, or NULL if there is no such task.
json_t *ds_store_task_status (ds_store_t *self, const char *task_id);

//  Pending tasks, oldest first, as a new list of QUEUE messages (with
//  attempt set to the attempts made so far). The caller owns the list;
//  its destructor frees the messages.
zlistx_t *ds_store_pending (ds_store_t *self);

//  Build the TASK message for a pending or processing task, inputs
//  included. Returns a new message, or NULL if the task does not exist or
//  has already ended.
ds_proto_t *ds_store_load_task (ds_store_t *self, const char *task_id);

//  Begin and commit a batch of writes (event updates, or inserts: within
//  a batch each insert is a savepoint, so a failed one leaves the others).
//  Return 0 or -1; a failed commit rolls the batch back.
int ds_store_begin (ds_store_t *self);
int ds_store_commit (ds_store_t *self);

//  Begin a batch of reads (a deferred transaction: one snapshot and one
//  round of file locking for all); end it with ds_store_commit. Do not
//  write in it: writing would need the lock another writer may hold.
int ds_store_begin_read (ds_store_t *self);

//  Abandon a batch begun with ds_store_begin
void ds_store_rollback (ds_store_t *self);

//  Apply one EVENT inside a batch. Returns 1 if it changed the task, 0 if
//  it was dropped (unknown task, or the task already has a terminal
//  state: first terminal result wins), -1 on a database error.
int ds_store_apply_event (ds_store_t *self, ds_proto_t *event);

//  Cancel a pending or processing task. Returns 1 if cancelled, 0 if it
//  had ended already, -1 if there is no such task (or on error).
int ds_store_cancel (ds_store_t *self, const char *task_id);

//  A task's status as a new string (NULL if no such task); sets
//  *error_code to a new string ("" if none) and *attempts, when not NULL.
char *ds_store_task_state (ds_store_t *self,
                           const char *task_id,
                           char **error_code,
                           int *attempts);

//  Tasks in processing, oldest first, as a new list of QUEUE messages with
//  attempt and worker set. The list's destructor frees them.
zlistx_t *ds_store_processing (ds_store_t *self);

//  Record that a task was dispatched for the given attempt. Returns 0/-1.
int ds_store_set_attempts (ds_store_t *self, const char *task_id, int attempts);

//  Delete ended tasks (and their images) that finished before the time,
//  at most max_tasks of them, in one transaction. Returns how many, or -1.
int64_t
ds_store_expire (ds_store_t *self, int64_t finished_before_ms, int max_tasks);

//  Count tasks in a state (NULL: all). Returns -1 on error.
int64_t ds_store_count (ds_store_t *self, const char *status);

//  Self test of this class
void ds_store_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
