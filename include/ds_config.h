/*  =========================================================================
    ds_config - configuration from defaults, file, environment and flags

    Every option of every docusnap program is declared once, in the table
    in src/ds_config.c, with its default and help text. A program sees the
    options of its own role. Precedence, lowest first: built-in default,
    config file (--config FILE or DOCUSNAP_CONFIG; ZPL "name = value"),
    environment (DOCUSNAP_NAME_WITH_UNDERSCORES), command-line flag.
    =========================================================================
*/

#ifndef DS_CONFIG_H_INCLUDED
#define DS_CONFIG_H_INCLUDED

//  Roles: which programs an option belongs to
#define DS_ROLE_GATEWAY 1
#define DS_ROLE_VENTILATOR 2
#define DS_ROLE_WORKER 4
#define DS_ROLE_SINK 8
#define DS_ROLE_UP 16
#define DS_ROLE_CLIENT 32
#define DS_ROLE_SERVICES 15

#ifdef __cplusplus
extern "C" {
#endif

//  Create a configuration for the program named program (for --help) in
//  the given role, with all defaults applied.
ds_config_t *ds_config_new (const char *program, int role, const char *summary);

//  Destroy the configuration
void ds_config_destroy (ds_config_t **self_p);

//  Apply config file, environment and flags. Positional arguments are kept
//  (see ds_config_args). Returns 0 to go on, 1 when --help or --version
//  was printed (exit 0), -1 on an error that was printed (exit 2).
int ds_config_load (ds_config_t *self, int argc, char **argv);

//  Value of an option, borrowed; asserts the option exists for this role.
const char *ds_config_get (ds_config_t *self, const char *name);

//  Value as an integer; asserts it was validated as one.
int64_t ds_config_int (ds_config_t *self, const char *name);

//  Value as a boolean ("1", "true", "yes", "on").
bool ds_config_bool (ds_config_t *self, const char *name);

//  Set a value, as if from a flag. Returns 0, or -1 if it is not valid.
int ds_config_set (ds_config_t *self, const char *name, const char *value);

//  Positional arguments, in order (borrowed list of char *).
zlist_t *ds_config_args (ds_config_t *self);

//  Print the effective configuration to the log at info level.
void ds_config_log (ds_config_t *self);

//  Write the option reference (all roles) as Markdown to file.
void ds_config_print_reference (FILE *file);

//  Self test of this class
void ds_config_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
