/*  =========================================================================
    ds_llm - an OpenAI-compatible chat-completions client on libcurl multi

    One ds_llm keeps many requests in flight from one thread: the worker's
    poll loop asks it for the sockets and the timeout to wait on
    (ds_llm_pollitems, ds_llm_timeout), tells it when they are ready
    (ds_llm_execute), and collects finished requests (ds_llm_next).
    Retries with exponential backoff and jitter on connection errors,
    timeouts, 429 (honouring Retry-After) and 5xx, within each request's
    deadline; never on 400, 401, 404. The API key is sent as a Bearer
    token and never logged.
    =========================================================================
*/

#ifndef DS_LLM_H_INCLUDED
#define DS_LLM_H_INCLUDED

typedef struct _ds_llm_t ds_llm_t;

//  A finished request; the caller destroys it with ds_llm_reply_destroy
typedef struct {
    uint64_t id;     //  the caller's request id
    bool ok;         //  true: content holds the reply text
    char *content;   //  the assistant message's content
    char code [24];  //  on failure: LLM_TIMEOUT, LLM_HTTP_<n>,
                     //  LLM_BAD_OUTPUT or LLM_UNAVAILABLE
    char *message;   //  on failure: what happened, for people
    int attempts;    //  HTTP attempts made
} ds_llm_reply_t;

#ifdef __cplusplus
extern "C" {
#endif

//  Create a client from the llm-* options of config. Returns NULL if no
//  llm-url is configured (the offline extractor is used then).
ds_llm_t *ds_llm_new (ds_config_t *config);

//  Destroy the client, abandoning requests in flight
void ds_llm_destroy (ds_llm_t **self_p);

//  The model name, for results
const char *ds_llm_model (ds_llm_t *self);

//  Start a request: messages is a JSON array of {"role", "content"}
//  (borrowed); schema is the JSON schema of the wanted object, or NULL.
//  Requests past the in-flight cap wait their turn. Returns 0.
int
ds_llm_request (ds_llm_t *self, uint64_t id, json_t *messages, json_t *schema);

//  Abandon a request (its reply will not come). Returns 0, -1 if unknown.
int ds_llm_cancel (ds_llm_t *self, uint64_t id);

//  Fill items with the sockets to poll; returns how many (at most max).
int ds_llm_pollitems (ds_llm_t *self, zmq_pollitem_t *items, int max);

//  Milliseconds until the client needs ds_llm_execute even without
//  socket activity, or -1 if never.
long ds_llm_timeout (ds_llm_t *self);

//  Act on polled items (their revents) and on expired timers.
void ds_llm_execute (ds_llm_t *self, zmq_pollitem_t *items, int count);

//  Next finished request, or NULL; the caller destroys it.
ds_llm_reply_t *ds_llm_next (ds_llm_t *self);

//  Destroy a reply
void ds_llm_reply_destroy (ds_llm_reply_t **self_p);

//  Requests started and not finished (in flight, backing off or waiting)
size_t ds_llm_active (ds_llm_t *self);

//  Self test of this class
void ds_llm_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
