/*  =========================================================================
    ds_rules - the offline extractor's rules over OCR text

    @header
    Line rules find labels and blanks; POSIX extended regular expressions
    find entities. Everything works on UTF-8 bytes and never reads past
    the text it is given.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

#define RULES_LABEL_MAX 48   //  longest label, bytes
#define RULES_LABEL_WORDS 6  //  most words in a label
#define RULES_TITLE_MAX 120  //  longest title, bytes
#define RULES_BLANK_RUN 3    //  "___" or "..." marks a blank

typedef struct {
    const char *type;     //  entity type
    const char *pattern;  //  POSIX extended regex
} entity_rule_t;

#define MONTHS "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*"

static const entity_rule_t s_entity_rules [] = {
    {"email", "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}"},
    {"url", "https?://[^ \t\n\"<>]+"},
    {"date", "[0-9]{4}-[0-9]{2}-[0-9]{2}"
             "|[0-9]{1,2}[./][0-9]{1,2}[./][0-9]{2,4}"
             "|[0-9]{1,2} " MONTHS " [0-9]{4}"
             "|" MONTHS " [0-9]{1,2}, [0-9]{4}"},
    {"amount", "([$]|€|£|USD |EUR |GBP )[0-9][0-9,]*([.][0-9]{2})?"
               "|[0-9][0-9,]*[.,][0-9]{2} ?(€|USD|EUR|GBP)"},
    {"phone", "[+]?[(]?[0-9][0-9 ()-]{7,}[0-9]"},
    {"identifier", "[A-Z]{2,}[-/]?[0-9]{3,}[A-Z0-9-]*"},
};
#define ENTITY_RULES (sizeof (s_entity_rules) / sizeof (s_entity_rules [0]))

static const char *s_tag_words [] = {
    "invoice",     "receipt",     "contract", "agreement", "statement",
    "letter",      "certificate", "passport", "license",   "licence",
    "application", "form",        "report",   "order",     "delivery",
    "insurance",   "tax",         "bank",     "medical",   "prescription",
    "ticket",      "bill",        "quote",    "quotation", "payslip",
    "resume",      "notes",       NULL};

//  Structure of our class

struct _ds_rules_t {
    regex_t entities [ENTITY_RULES];  //  compiled entity patterns
};


//  --------------------------------------------------------------------------
//  Create the rules

ds_rules_t *
ds_rules_new (void)
{
    ds_rules_t *self = (ds_rules_t *) zmalloc (sizeof (ds_rules_t));
    assert (self);
    for (size_t rule_nbr = 0; rule_nbr < ENTITY_RULES; rule_nbr++) {
        int rc = regcomp (&self->entities [rule_nbr],
                          s_entity_rules [rule_nbr].pattern, REG_EXTENDED);
        assert (rc == 0);  //  the patterns are ours, not input
    }
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the rules

void
ds_rules_destroy (ds_rules_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_rules_t *self = *self_p;
        for (size_t rule_nbr = 0; rule_nbr < ENTITY_RULES; rule_nbr++)
            regfree (&self->entities [rule_nbr]);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Trim white space from both ends of [*start, *end)

static void
s_trim (const char **start, const char **end)
{
    while (*start < *end && isspace ((unsigned char) **start))
        (*start)++;
    while (*end > *start && isspace ((unsigned char) (*end) [-1]))
        (*end)--;
}


//  --------------------------------------------------------------------------
//  True if [start, end) is only blank marks: _ . - and spaces (or empty)

static bool
s_is_blank (const char *start, const char *end)
{
    for (const char *scan = start; scan < end; scan++) {
        if (end - scan >= 3 && memcmp (scan, "\xe2\x80\x94", 3) == 0)
            scan += 2;  //  U+2014 em dash counts as a mark
        else if (!strchr ("_.-~ \t|", *scan))
            return false;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  First run of RULES_BLANK_RUN '_' or '.' in [start, end), or NULL

static const char *
s_blank_run (const char *start, const char *end)
{
    for (const char *scan = start; scan + RULES_BLANK_RUN <= end; scan++) {
        int run = 0;
        while (run < RULES_BLANK_RUN && (scan [run] == '_' || scan [run] == '.')
               && scan [run] == *scan)
            run++;
        if (run == RULES_BLANK_RUN)
            return scan;
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  First colon in [start, end) that is not inside a time like 10:30

static const char *
s_separator (const char *start, const char *end)
{
    for (const char *scan = start; scan < end; scan++)
        if (*scan == ':'
            && !(scan > start && scan + 1 < end
                 && isdigit ((unsigned char) scan [-1])
                 && isdigit ((unsigned char) scan [1])))
            return scan;
    return NULL;
}


//  --------------------------------------------------------------------------
//  True if [start, end) looks like a field label: starts with a letter,
//  short, a few words, no sentence punctuation

static bool
s_is_label (const char *start, const char *end)
{
    size_t length = (size_t) (end - start);
    if (length == 0 || length > RULES_LABEL_MAX
        || !isalpha ((unsigned char) *start))
        return false;
    int words = 1;
    for (const char *scan = start; scan < end; scan++) {
        if (*scan == ' ')
            words++;
        if (strchr (".,;!?:\"", *scan) || words > RULES_LABEL_WORDS)
            return false;
    }
    return true;
}


//  Callback for each labelled line: label [start, end), value [start, end)
typedef void (line_fn) (void *arg,
                        const char *label,
                        size_t label_size,
                        const char *value,
                        size_t value_size,
                        bool blank);


//  --------------------------------------------------------------------------
//  Next line of text at *cursor, trimmed into [*start, *end); advances the
//  cursor. Returns false when there are no more lines.

static bool
s_next_line (const char **cursor, const char **start, const char **end)
{
    const char *line = *cursor;
    if (!line || !*line)
        return false;
    const char *line_end = strchr (line, '\n');
    if (!line_end)
        line_end = line + strlen (line);
    *start = line;
    *end = line_end;
    s_trim (start, end);
    *cursor = *line_end ? line_end + 1 : NULL;
    return true;
}


//  --------------------------------------------------------------------------
//  Walk the lines of text and call fn for each "Label: value" or blank
//  field ("Label ____" without a colon counts too)

static void
s_each_field (const char *text, line_fn *fn, void *arg)
{
    const char *cursor = text, *start, *end;
    while (s_next_line (&cursor, &start, &end)) {
        const char *colon = s_separator (start, end);
        const char *label_end = colon;
        const char *value = colon ? colon + 1 : NULL;
        if (!colon) {
            //  "Label ____": a run of blank marks after the label
            const char *marks = s_blank_run (start, end);
            if (marks) {
                label_end = marks;
                value = marks;
            }
        }
        if (value && !(colon && value < end && value [0] == '/')) {
            const char *label = start;
            s_trim (&label, &label_end);
            const char *value_start = value, *value_end = end;
            s_trim (&value_start, &value_end);
            if (s_is_label (label, label_end)) {
                bool blank = s_is_blank (value_start, value_end);
                fn (arg, label, (size_t) (label_end - label), value_start,
                    (size_t) (value_end - value_start), blank);
            }
        }
    }
}


//  --------------------------------------------------------------------------
//  Collect a pair into a JSON object

static void
s_add_pair (void *arg,
            const char *label,
            size_t label_size,
            const char *value,
            size_t value_size,
            bool blank)
{
    if (blank)
        return;
    json_t *pairs = (json_t *) arg;
    char *key = zsys_sprintf ("%.*s", (int) label_size, label);
    char *unique = strdup (key);
    for (int copy_nbr = 2; json_object_get (pairs, unique); copy_nbr++) {
        zstr_free (&unique);
        unique = zsys_sprintf ("%s %d", key, copy_nbr);
    }
    json_t *string = json_stringn (value, value_size);
    //  OCR text that is not valid UTF-8 is kept as a placeholder
    json_object_set_new (pairs, unique, string ? string : json_string (""));
    zstr_free (&unique);
    zstr_free (&key);
}


//  --------------------------------------------------------------------------
//  Label: value pairs

json_t *
ds_rules_pairs (ds_rules_t *self, const char *text)
{
    assert (self);
    json_t *pairs = json_object ();
    s_each_field (text, s_add_pair, pairs);
    return pairs;
}


//  --------------------------------------------------------------------------
//  Collect a blank label into a JSON array

static void
s_add_blank (void *arg,
             const char *label,
             size_t label_size,
             const char *value,
             size_t value_size,
             bool blank)
{
    (void) value;
    (void) value_size;
    json_t *blanks = (json_t *) arg;
    if (!blank)
        return;
    json_t *string = json_stringn (label, label_size);
    if (string)
        json_array_append_new (blanks, string);
}


//  --------------------------------------------------------------------------
//  Blank fields

json_t *
ds_rules_blanks (ds_rules_t *self, const char *text)
{
    assert (self);
    json_t *blanks = json_array ();
    s_each_field (text, s_add_blank, blanks);
    return blanks;
}


//  --------------------------------------------------------------------------
//  Count decimal digits in [start, start + length)

static int
s_digits (const char *start, size_t length)
{
    int count = 0;
    for (size_t char_nbr = 0; char_nbr < length; char_nbr++)
        count += isdigit ((unsigned char) start [char_nbr]) != 0;
    return count;
}


//  --------------------------------------------------------------------------
//  Entities

json_t *
ds_rules_entities (ds_rules_t *self, const char *text)
{
    assert (self);
    json_t *entities = json_array ();
    zhashx_t *seen = zhashx_new ();
    for (size_t rule_nbr = 0; rule_nbr < ENTITY_RULES; rule_nbr++) {
        const char *type = s_entity_rules [rule_nbr].type;
        const char *scan = text;
        regmatch_t match;
        while (*scan
               && regexec (&self->entities [rule_nbr], scan, 1, &match,
                           scan == text ? 0 : REG_NOTBOL)
                      == 0) {
            if (match.rm_eo <= match.rm_so) {
                scan++;
                continue;
            }
            const char *start = scan + match.rm_so;
            size_t length = (size_t) (match.rm_eo - match.rm_so);
            scan += match.rm_eo;
            //  A phone number has 9 to 15 digits; fewer is a date or a sum
            if (streq (type, "phone")) {
                int digits = s_digits (start, length);
                if (digits < 9 || digits > 15)
                    continue;
            }
            char *value = zsys_sprintf ("%.*s", (int) length, start);
            if (!zhashx_lookup (seen, value)) {
                zhashx_insert (seen, value, (void *) type);
                json_t *string = json_string (value);
                if (string)
                    json_array_append_new (entities,
                                           json_pack ("{s:s, s:o}", "type",
                                                      type, "value", string));
            }
            zstr_free (&value);
        }
    }
    zhashx_destroy (&seen);
    return entities;
}


//  --------------------------------------------------------------------------
//  Title

char *
ds_rules_title (ds_rules_t *self, const char *text)
{
    assert (self);
    const char *cursor = text, *start, *end;
    while (s_next_line (&cursor, &start, &end)) {
        int letters = 0;
        for (const char *scan = start; scan < end; scan++)
            letters += isalpha ((unsigned char) *scan) != 0;
        if (letters >= 3) {
            size_t length = (size_t) (end - start);
            if (length > RULES_TITLE_MAX) {
                length = RULES_TITLE_MAX;
                //  Do not cut a UTF-8 sequence in half
                while (length && (start [length] & 0xc0) == 0x80)
                    length--;
            }
            return zsys_sprintf ("%.*s", (int) length, start);
        }
    }
    return strdup ("");
}


//  --------------------------------------------------------------------------
//  True if word occurs in text as a whole word, ignoring case

static bool
s_has_word (const char *text, const char *word)
{
    size_t length = strlen (word);
    for (const char *scan = text; *scan; scan++) {
        if (strncasecmp (scan, word, length) == 0
            && (scan == text || !isalpha ((unsigned char) scan [-1]))
            && !isalpha ((unsigned char) scan [length]))
            return true;
    }
    return false;
}


//  --------------------------------------------------------------------------
//  Tags

json_t *
ds_rules_tags (ds_rules_t *self, const char *text)
{
    assert (self);
    json_t *tags = json_array ();
    for (const char **word = s_tag_words; *word; word++)
        if (s_has_word (text, *word))
            json_array_append_new (tags, json_string (*word));
    return tags;
}


//  --------------------------------------------------------------------------
//  Common abbreviations and spellings of label words, and what they mean

static const char *s_synonyms [][2] = {
    {"no", "number"},           {"nr", "number"},
    {"num", "number"},          {"nbr", "number"},
    {"tel", "phone"},           {"telephone", "phone"},
    {"mobile", "phone"},        {"dob", "date of birth"},
    {"addr", "address"},        {"e mail", "email"},
    {"mail", "email"},          {"surname", "last name"},
    {"forename", "first name"}, {NULL, NULL}};


//  --------------------------------------------------------------------------
//  Normalise a label

char *
ds_rules_normalize (const char *label)
{
    //  Lower-case words of letters and digits, one space apart
    size_t length = strlen (label);
    char *normal = (char *) malloc (length + 2);
    assert (normal);
    size_t out = 0;
    bool space = false;
    for (const char *scan = label; *scan; scan++) {
        unsigned char byte = (unsigned char) *scan;
        if (isalnum (byte) || byte >= 0x80) {
            if (space && out)
                normal [out++] = ' ';
            normal [out++] = (char) tolower (byte);
            space = false;
        }
        else
            space = true;
    }
    normal [out] = 0;
    //  Replace whole-word synonyms ("e mail" before "mail")
    for (int pair_nbr = 0; s_synonyms [pair_nbr][0]; pair_nbr++) {
        const char *word = s_synonyms [pair_nbr][0];
        size_t word_length = strlen (word);
        char *found = normal;
        while ((found = strstr (found, word))) {
            bool starts = found == normal || found [-1] == ' ';
            bool ends = found [word_length] == 0 || found [word_length] == ' ';
            if (starts && ends) {
                char *replaced = zsys_sprintf (
                    "%.*s%s%s", (int) (found - normal), normal,
                    s_synonyms [pair_nbr][1], found + word_length);
                size_t offset = (size_t) (found - normal)
                                + strlen (s_synonyms [pair_nbr][1]);
                zstr_free (&normal);
                normal = replaced;
                found = normal + offset;
            }
            else
                found += word_length;
        }
    }
    return normal;
}


//  --------------------------------------------------------------------------
//  True if two words match: equal, or one abbreviates the other ("no" and
//  "number", "tel" and "telephone"), two letters at least

static bool
s_word_match (const char *left, const char *right)
{
    size_t left_length = strlen (left), right_length = strlen (right);
    size_t shorter = left_length < right_length ? left_length : right_length;
    if (left_length == right_length)
        return streq (left, right);
    return shorter >= 2 && strncmp (left, right, shorter) == 0;
}


//  --------------------------------------------------------------------------
//  Split a normalised label into at most max words, in place

static size_t
s_split (char *text, char **words, size_t max)
{
    size_t count = 0;
    char *state = NULL;
    for (char *word = strtok_r (text, " ", &state); word && count < max;
         word = strtok_r (NULL, " ", &state))
        words [count++] = word;
    return count;
}


//  --------------------------------------------------------------------------
//  Similarity: 1.0 if equal, else matched words over all words

double
ds_rules_similarity (const char *left, const char *right)
{
    if (!*left || !*right)
        return 0.0;
    if (streq (left, right))
        return 1.0;
    char *left_copy = strdup (left), *right_copy = strdup (right);
    char *left_words [RULES_LABEL_WORDS * 2],
        *right_words [RULES_LABEL_WORDS * 2];
    size_t left_count = s_split (left_copy, left_words, RULES_LABEL_WORDS * 2);
    size_t right_count =
        s_split (right_copy, right_words, RULES_LABEL_WORDS * 2);
    size_t matched = 0;
    for (size_t right_nbr = 0; right_nbr < right_count; right_nbr++)
        for (size_t left_nbr = 0; left_nbr < left_count; left_nbr++)
            if (s_word_match (left_words [left_nbr], right_words [right_nbr])) {
                matched++;
                break;
            }
    zstr_free (&left_copy);
    zstr_free (&right_copy);
    size_t total = left_count + right_count - matched;
    //  Slightly below 1.0, so an exact label always ranks first
    return total ? 0.99 * (double) matched / (double) total : 0.0;
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_rules_test (bool verbose)
{
    printf (" * ds_rules: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    ds_rules_t *rules = ds_rules_new ();
    const char *text =
        "INVOICE\n\n"
        "Invoice Number: INV-2041\n"
        "Date: 2026-11-30\n"
        "  Customer:   Acme Corporation  \n"
        "Email: billing@acme.example\n"
        "Phone: +1 555 010 2030\n"
        "Total: $1,234.56\n"
        "See https://acme.example/terms for terms.\n"
        "Meeting at 10:30 on 3 March 2026, this line is a sentence: no.\n"
        "Date: 2026-12-01\n"
        "Full Name: ____________\n"
        "Signature:\n"
        "Place of birth ........\n";

    json_t *pairs = ds_rules_pairs (rules, text);
    if (verbose)
        printf ("%s\n", json_dumps (pairs, JSON_INDENT (2)));
    assert (
        streq (json_string_value (json_object_get (pairs, "Invoice Number")),
               "INV-2041"));
    assert (streq (json_string_value (json_object_get (pairs, "Customer")),
                   "Acme Corporation"));
    assert (streq (json_string_value (json_object_get (pairs, "Total")),
                   "$1,234.56"));
    assert (streq (json_string_value (json_object_get (pairs, "Date 2")),
                   "2026-12-01"));
    assert (!json_object_get (pairs, "Full Name"));  //  blank
    assert (!json_object_get (pairs, "See https"));  //  URL, not a label
    assert (!json_object_get (pairs, "Meeting at 10"));
    json_decref (pairs);

    json_t *blanks = ds_rules_blanks (rules, text);
    assert (json_array_size (blanks) == 3);
    assert (
        streq (json_string_value (json_array_get (blanks, 0)), "Full Name"));
    assert (
        streq (json_string_value (json_array_get (blanks, 1)), "Signature"));
    assert (streq (json_string_value (json_array_get (blanks, 2)),
                   "Place of birth"));
    json_decref (blanks);

    json_t *entities = ds_rules_entities (rules, text);
    char *dump = json_dumps (entities, JSON_COMPACT);
    if (verbose)
        printf ("%s\n", dump);
    assert (strstr (dump,
                    "{\"type\":\"email\",\"value\":\"billing@acme.example\"}"));
    assert (strstr (dump, "{\"type\":\"date\",\"value\":\"2026-11-30\"}"));
    assert (strstr (dump, "{\"type\":\"date\",\"value\":\"3 March 2026\"}"));
    assert (strstr (dump, "{\"type\":\"amount\",\"value\":\"$1,234.56\"}"));
    assert (
        strstr (dump, "{\"type\":\"phone\",\"value\":\"+1 555 010 2030\"}"));
    assert (strstr (dump, "{\"type\":\"identifier\",\"value\":\"INV-2041\"}"));
    assert (strstr (dump, "\"url\""));
    assert (!strstr (dump, "{\"type\":\"phone\",\"value\":\"2026-11-30\"}"));
    zstr_free (&dump);
    json_decref (entities);

    char *title = ds_rules_title (rules, "\n  12\n  Tax Statement 2025 \nx");
    assert (streq (title, "Tax Statement 2025"));
    zstr_free (&title);
    title = ds_rules_title (rules, "");
    assert (streq (title, ""));
    zstr_free (&title);

    json_t *tags = ds_rules_tags (rules, text);
    assert (json_array_size (tags) == 1);
    assert (streq (json_string_value (json_array_get (tags, 0)), "invoice"));
    json_decref (tags);

    char *normal = ds_rules_normalize ("  Date-of  BIRTH: ");
    assert (streq (normal, "date of birth"));
    assert (ds_rules_similarity (normal, "date of birth") == 1.0);
    assert (ds_rules_similarity (normal, "birth date") > 0.5);
    assert (ds_rules_similarity (normal, "passport number") == 0.0);
    assert (ds_rules_similarity ("passport nu", "passport number") > 0.9);
    assert (ds_rules_similarity ("name", "n") == 0.0);
    zstr_free (&normal);
    normal = ds_rules_normalize ("Tel. No");
    assert (streq (normal, "phone number"));
    zstr_free (&normal);
    normal = ds_rules_normalize ("E-Mail");
    assert (streq (normal, "email"));
    zstr_free (&normal);

    //  Hostile text: no newline, binary bytes, huge lines, never crashes
    char noise [4096];
    for (size_t byte_nbr = 0; byte_nbr < sizeof (noise) - 1; byte_nbr++)
        noise [byte_nbr] = (char) (1 + (byte_nbr * 7919) % 255);
    noise [sizeof (noise) - 1] = 0;
    json_decref (ds_rules_pairs (rules, noise));
    json_decref (ds_rules_blanks (rules, noise));
    json_decref (ds_rules_entities (rules, noise));
    title = ds_rules_title (rules, noise);
    zstr_free (&title);
    ds_rules_destroy (&rules);
    //  @end
    printf ("OK\n");
}
