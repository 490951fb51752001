/*  =========================================================================
    ds_prompt - the LLM prompts, one per task type, and reply parsing

    Prompts are files in the repository (prompts/<type>.txt), loaded once
    at start; each result records the SHA-256 (first 16 hex digits) of the
    prompt that produced it. The task's content is sent as JSON between
    <data> and </data>, with '/' escaped so that no text can close the
    fence early.
    =========================================================================
*/

#ifndef DS_PROMPT_H_INCLUDED
#define DS_PROMPT_H_INCLUDED

typedef struct _ds_prompt_t ds_prompt_t;

#ifdef __cplusplus
extern "C" {
#endif

//  Load every task type's prompt from dir. Returns NULL, logged, if one
//  is missing or empty.
ds_prompt_t *ds_prompt_new (const char *dir);

//  Destroy the prompts
void ds_prompt_destroy (ds_prompt_t **self_p);

//  Hash of a task type's prompt (16 hex digits), or NULL if none
const char *ds_prompt_hash (ds_prompt_t *self, const char *task_type);

//  The messages for a task: the system prompt and the data. Returns a new
//  JSON array.
json_t *
ds_prompt_messages (ds_prompt_t *self, const char *task_type, json_t *data);

//  Parse an LLM reply strictly: one JSON object, optionally inside a
//  markdown fence and after a <think>...</think> block; nothing else.
//  Returns a new object, or NULL and sets *error to a new message.
json_t *ds_prompt_parse_reply (const char *content, char **error);

//  Self test of this class
void ds_prompt_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
