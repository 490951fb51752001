/*  =========================================================================
    ds_strategy - one extraction strategy per task type

    A strategy turns a task's OCR pages (and, for form filling, the form
    and the user's file library) into the result JSON of its type, as
    documented in docs/RESULTS.md. Adding a task type is one new file,
    ds_strategy_<type>.c, defining a ds_strategy_t, plus its line in the
    table in ds_strategy.c.

    Today every strategy has an offline extractor built on ds_rules; the
    LLM extractor (issue 3) plugs in beside it as a second function.
    =========================================================================
*/

#ifndef DS_STRATEGY_H_INCLUDED
#define DS_STRATEGY_H_INCLUDED

//  What a strategy reads; everything is borrowed
typedef struct {
    json_t *pages;      //  array of {"text", "confidence"}, page order
    const char *text;   //  all page texts joined by blank lines
    json_t *form;       //  the task's form object, or NULL
    json_t *file_lib;   //  the user's file library object, or NULL
    ds_rules_t *rules;  //  the offline rules
} ds_input_t;

//  An extractor returns a new result object, or NULL and sets *error to
//  a new human message (the task then ends with EXTRACT_FAILED).
typedef json_t *(ds_extractor_fn) (ds_input_t *input, char **error);

//  With an LLM: the data the model is shown (a new object), the JSON
//  schema of its reply (a new object), and the check that turns a parsed
//  reply into the result (a new object, or NULL with *error set to a new
//  message that goes back to the model for one repair).
typedef json_t *(ds_llm_data_fn) (ds_input_t *input);
typedef json_t *(ds_llm_schema_fn) (void);
typedef json_t *(ds_llm_result_fn) (json_t *reply,
                                    ds_input_t *input,
                                    char **error);

typedef struct {
    const char *name;              //  task type, e.g. "document"
    bool needs_images;             //  the task must carry images to OCR
    bool reads_pages;              //  its images are OCR'd for it; if not,
                                   //  they are carried and never read
    ds_extractor_fn *offline;      //  rule-based extractor
    ds_llm_data_fn *llm_data;      //  what the LLM is shown
    ds_llm_schema_fn *llm_schema;  //  what it must answer
    ds_llm_result_fn *llm_result;  //  check and shape its answer
} ds_strategy_t;

#ifdef __cplusplus
extern "C" {
#endif

//  The strategy of a task type, or NULL if there is none.
const ds_strategy_t *ds_strategy_find (const char *task_type);

//  The document part shared by document and form results: title, tags,
//  description, kv, related, pages. Returns a new object.
json_t *ds_strategy_document_part (ds_input_t *input);

//  For document and form: the pages' texts as LLM data, the reply schema
//  (with "fields" for forms), and the check of a reply
json_t *ds_strategy_document_data (ds_input_t *input);
json_t *ds_strategy_document_schema (bool with_fields);
json_t *ds_strategy_document_reply (json_t *reply,
                                    ds_input_t *input,
                                    bool with_fields,
                                    char **error);

//  Flatten a kv value into string values: nested objects become dotted
//  keys, lists 1-based indices ("Items.1.name"). Returns a new object.
json_t *ds_strategy_flatten (json_t *kv);

//  The strategies
extern const ds_strategy_t ds_strategy_document;
extern const ds_strategy_t ds_strategy_form;
extern const ds_strategy_t ds_strategy_form_filling;
extern const ds_strategy_t ds_strategy_echo;

//  Self test of this class
void ds_strategy_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
