/*  =========================================================================
    fuzz_replay - runs a fuzz target over every file of a corpus directory

    fuzz_replay DIRECTORY: without libFuzzer, so gcc builds can replay the
    corpus as an ordinary test. Fails if the directory holds no file.
    =========================================================================
*/

#include "docusnap.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s CORPUS_DIR\n", argv [0]);
        return 2;
    }
    zsys_init ();
    zdir_t *dir = zdir_new (argv [1], NULL);
    if (!dir) {
        fprintf (stderr, "no corpus at %s\n", argv [1]);
        return 1;
    }
    zfile_t **files = zdir_flatten (dir);
    int count = 0;
    for (int file_nbr = 0; files [file_nbr]; file_nbr++) {
        zchunk_t *chunk =
            zchunk_slurp (zfile_filename (files [file_nbr], NULL), 0);
        if (!chunk)
            continue;
        LLVMFuzzerTestOneInput (zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
        count++;
    }
    zdir_flatten_free (&files);
    zdir_destroy (&dir);
    printf ("fuzz_replay: %d inputs from %s, no failure\n", count, argv [1]);
    return count > 0 ? 0 : 1;
}
