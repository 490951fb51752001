/*  =========================================================================
    ds_rules - the offline extractor's rules over OCR text

    Finds what a document says without a language model: "Label: value"
    pairs, blank form fields ("Name: ____" or "Name:" with nothing after),
    dates, amounts, e-mail addresses, phone numbers, URLs, identifiers, a
    title and tags. The regular expressions are compiled once per object.
    =========================================================================
*/

#ifndef DS_RULES_H_INCLUDED
#define DS_RULES_H_INCLUDED

typedef struct _ds_rules_t ds_rules_t;

#ifdef __cplusplus
extern "C" {
#endif

//  Create the rules (compiles the patterns)
ds_rules_t *ds_rules_new (void);

//  Destroy the rules
void ds_rules_destroy (ds_rules_t **self_p);

//  "Label: value" pairs of text as a new JSON object of strings. A label
//  seen twice gets " 2", " 3" appended. Blank fields are left out.
json_t *ds_rules_pairs (ds_rules_t *self, const char *text);

//  Labels of blank fields in text, as a new JSON array of strings.
json_t *ds_rules_blanks (ds_rules_t *self, const char *text);

//  Entities found in text, as a new JSON array of {"type", "value"},
//  each value once. Types: date, amount, email, phone, url, identifier.
json_t *ds_rules_entities (ds_rules_t *self, const char *text);

//  Title: the first line with three letters or more, trimmed to 120
//  bytes; a new string, "" if there is none.
char *ds_rules_title (ds_rules_t *self, const char *text);

//  Tags: document kinds named in the text (invoice, receipt, ...), as a
//  new JSON array of lower-case strings.
json_t *ds_rules_tags (ds_rules_t *self, const char *text);

//  Normalise a label for matching: lower-case letters and digits, words
//  separated by one space. Returns a new string.
char *ds_rules_normalize (const char *label);

//  Similarity of two normalised labels, 0.0 to 1.0 (1.0: equal; else the
//  share of words they have in common).
double ds_rules_similarity (const char *left, const char *right);

//  Self test of this class
void ds_rules_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
