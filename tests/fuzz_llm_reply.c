/*  =========================================================================
    fuzz_llm_reply - fuzz target: what an LLM answers

    The bytes are a model's reply (the message content of a chat
    completion): ds_prompt_parse_reply takes it apart (a <think> block, a
    markdown fence, one JSON object), then each task type's check turns
    the object into a result or refuses it with a message for the model.
    Built as a libFuzzer target with clang (-DDS_FUZZ=ON), and replayed
    over tests/corpus/llm_reply/ by the ctest test fuzz.llm_reply.
    =========================================================================
*/

#include "../workers/ds_worker_classes.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  The reply as the worker has it: a C string (a NUL inside ends it)
    char *content = (char *) malloc (size + 1);
    assert (content);
    memcpy (content, data, size);
    content [size] = 0;
    char *error = NULL;
    json_t *reply = ds_prompt_parse_reply (content, &error);
    //  Either an object, or a message saying why not
    assert (reply ? json_is_object (reply) && !error : error && *error);
    zstr_free (&error);
    free (content);
    if (!reply)
        return 0;

    //  What the checks are given beside the reply: one page, a form with
    //  two fields (one without a label) and a file library
    json_t *pages =
        json_pack ("[{s:s, s:f}]", "text", "Invoice 42", "confidence", 90.0);
    json_t *form = json_pack ("{s:[{s:s}, {s:s}]}", "fields", "label", "Name",
                              "type", "text");
    json_t *file_lib = json_pack ("{s:[{s:s, s:s}]}", "documents", "id", "d1",
                                  "text", "Name: Ada");
    assert (pages && form && file_lib);
    ds_input_t input = {.pages = pages,
                        .text = "Invoice 42",
                        .form = form,
                        .file_lib = file_lib};
    const char *types [] = {"document", "form", "form_filling"};
    for (int type_nbr = 0; type_nbr < 3; type_nbr++) {
        const ds_strategy_t *strategy = ds_strategy_find (types [type_nbr]);
        assert (strategy && strategy->llm_result);
        json_t *result = strategy->llm_result (reply, &input, &error);
        //  A result object, or a refusal the model can act on
        assert (result ? json_is_object (result) && !error : error && *error);
        //  A result is JSON the sink can store
        char *text = result ? json_dumps (result, JSON_COMPACT) : NULL;
        assert (!result || text);
        free (text);
        json_decref (result);
        zstr_free (&error);
    }
    json_decref (file_lib);
    json_decref (form);
    json_decref (pages);
    json_decref (reply);
    return 0;
}
