/*  =========================================================================
    ds_selftest - runs the self tests of every docusnap class

    ds_selftest [--list] [--test NAME] [-v]
    =========================================================================
*/

#include "ds_selftest.h"

typedef struct {
    const char *name;     //  class name
    void (*test) (bool);  //  its self test
} test_item_t;

static test_item_t s_tests [] = {DS_SELFTESTS{NULL, NULL}};


int
main (int argc, char **argv)
{
    bool verbose = false;
    const char *only = NULL;
    for (int arg_nbr = 1; arg_nbr < argc; arg_nbr++) {
        if (streq (argv [arg_nbr], "-v"))
            verbose = true;
        else if (streq (argv [arg_nbr], "--list")) {
            for (test_item_t *item = s_tests; item->name; item++)
                printf ("%s\n", item->name);
            return 0;
        }
        else if (streq (argv [arg_nbr], "--test") && arg_nbr + 1 < argc)
            only = argv [++arg_nbr];
        else {
            printf ("usage: ds_selftest [--list] [--test NAME] [-v]\n");
            return 2;
        }
    }
    zsys_init ();
    zsys_set_logident ("ds_selftest");
    int ran = 0;
    for (test_item_t *item = s_tests; item->name; item++)
        if (!only || streq (only, item->name)) {
            item->test (verbose);
            ran++;
        }
    if (ran == 0) {
        printf ("ds_selftest: no test named '%s'\n", only ? only : "");
        return 1;
    }
    zsys_shutdown ();
    return 0;
}
