/*  =========================================================================
    ds_ocr - one tesseract engine, initialised once and reused

    @header
    Loading a tesseract language model costs far more than reading a
    small page, so each OCR thread keeps its engine for its whole life.
    leptonica decodes the image from memory; nothing touches the disk.
    tesseract's own OpenMP threads must be limited (OMP_THREAD_LIMIT=1,
    set by the worker before the library loads): parallelism comes from
    one engine per core, not from threads inside one engine.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

#define OCR_ERROR_MAX 200

//  Structure of our class

struct _ds_ocr_t {
    int timeout_ms;              //  time allowed per page, 0 = none
    TessBaseAPI *api;            //  the engine
    char error [OCR_ERROR_MAX];  //  why the last page failed
};


//  --------------------------------------------------------------------------
//  Create an engine

ds_ocr_t *
ds_ocr_new (const char *lang, const char *tessdata)
{
    ds_ocr_t *self = (ds_ocr_t *) zmalloc (sizeof (ds_ocr_t));
    assert (self);
    ds_image_quiet ();
    self->api = TessBaseAPICreate ();
    assert (self->api);
    //  Tesseract writes diagnostics to stderr unless told otherwise
    TessBaseAPISetVariable (self->api, "debug_file", "/dev/null");
    if (TessBaseAPIInit3 (self->api, tessdata && *tessdata ? tessdata : NULL,
                          lang)) {
        zsys_error ("ds_ocr: INIT-FAIL lang=%s tessdata=%s", lang,
                    tessdata && *tessdata ? tessdata : "(default)");
        ds_ocr_destroy (&self);
        return NULL;
    }
    TessBaseAPISetVariable (self->api, "debug_file", "/dev/null");
    TessBaseAPISetPageSegMode (self->api, PSM_AUTO);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy the engine

void
ds_ocr_destroy (ds_ocr_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_ocr_t *self = *self_p;
        TessBaseAPIEnd (self->api);
        TessBaseAPIDelete (self->api);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Read one page

int
ds_ocr_page (
    ds_ocr_t *self, const void *data, size_t size, char **text, int *confidence)
{
    assert (self);
    self->error [0] = 0;
    const char *format;
    int width, height;
    if (ds_image_probe (data, size, &format, &width, &height)) {
        snprintf (self->error, sizeof (self->error),
                  "not a supported image (PNG, JPEG, TIFF, BMP, GIF, WebP)");
        return -1;
    }
    PIX *pix = pixReadMem ((const l_uint8 *) data, size);
    if (!pix) {
        snprintf (self->error, sizeof (self->error),
                  "the %s image could not be decoded (corrupt or truncated)",
                  format);
        return -1;
    }
    //  Tesseract guesses a resolution when the image carries none; a
    //  photo at 300 dpi is the common case for document pictures
    if (pixGetXRes (pix) <= 0 || pixGetYRes (pix) <= 0)
        pixSetResolution (pix, 300, 300);
    TessBaseAPISetImage2 (self->api, pix);
    int rc = -1;
    ETEXT_DESC *monitor = TessMonitorCreate ();
    if (self->timeout_ms)
        TessMonitorSetDeadlineMSecs (monitor, self->timeout_ms);
    int64_t started = zclock_mono ();
    if (TessBaseAPIRecognize (self->api, monitor) == 0) {
        char *utf8 = TessBaseAPIGetUTF8Text (self->api);
        if (utf8) {
            *text = strdup (utf8);
            assert (*text);
            TessDeleteText (utf8);
            int mean = TessBaseAPIMeanTextConf (self->api);
            *confidence = mean < 0 ? 0 : mean;
            rc = 0;
        }
    }
    TessMonitorDelete (monitor);
    if (rc && self->timeout_ms && zclock_mono () - started >= self->timeout_ms)
        snprintf (self->error, sizeof (self->error),
                  "reading the %dx%d %s image took over %d ms", width, height,
                  format, self->timeout_ms);
    else if (rc)
        snprintf (self->error, sizeof (self->error),
                  "tesseract could not read the %dx%d %s image", width, height,
                  format);
    TessBaseAPIClear (self->api);
    pixDestroy (&pix);
    return rc;
}


//  --------------------------------------------------------------------------
//  Time allowed per page

void
ds_ocr_set_timeout (ds_ocr_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
}


//  --------------------------------------------------------------------------
//  Last error

const char *
ds_ocr_error (ds_ocr_t *self)
{
    return self->error;
}


//  --------------------------------------------------------------------------
//  OCR thread

void
ds_ocr_actor (zsock_t *pipe, void *args)
{
    char *settings = strdup ((const char *) args);
    char *tessdata = strchr (settings, '\n');
    if (tessdata)
        *tessdata++ = 0;
    char *timeout = tessdata ? strchr (tessdata, '\n') : NULL;
    if (timeout)
        *timeout++ = 0;
    ds_ocr_t *ocr = ds_ocr_new (settings, tessdata);
    if (ocr && timeout)
        ds_ocr_set_timeout (ocr, atoi (timeout));
    zstr_free (&settings);
    zsock_signal (pipe, 0);
    zstr_send (pipe, ocr ? "READY" : "FAILED");

    while (true) {
        char *command = NULL;
        uint32_t slot = 0, page = 0;
        void *data = NULL;
        uint64_t size = 0;
        if (zsock_recv (pipe, "s44p8", &command, &slot, &page, &data, &size))
            break;
        if (streq (command, "$TERM")) {
            zstr_free (&command);
            break;
        }
        if (streq (command, "PAGE")) {
            char *text = NULL;
            int confidence = 0;
            int rc =
                ocr ? ds_ocr_page (ocr, data, (size_t) size, &text, &confidence)
                    : -1;
            zsock_send (pipe, "s44isi", "DONE", slot, page, rc,
                        rc == 0 ? text
                        : ocr   ? ds_ocr_error (ocr)
                                : "the OCR engine did not load",
                        confidence);
            zstr_free (&text);
        }
        zstr_free (&command);
    }
    ds_ocr_destroy (&ocr);
}


//  --------------------------------------------------------------------------
//  Self test: garbage, truncated and blank images; then a rendered page
//  (tests/render-fixtures.sh) when DS_FIXTURES names where they are.

void
ds_ocr_test (bool verbose)
{
    printf (" * ds_ocr: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    ds_ocr_t *ocr = ds_ocr_new ("eng", NULL);
    assert (ocr);
    char *text = NULL;
    int confidence = 0;
    //  Garbage and truncated images fail with a reason, never crash
    assert (ds_ocr_page (ocr, "not an image at all", 19, &text, &confidence)
            == -1);
    assert (strstr (ds_ocr_error (ocr), "not a supported image"));
    PIX *pix = pixCreate (200, 60, 8);
    pixSetAllArbitrary (pix, 255);
    l_uint8 *bytes = NULL;
    size_t size = 0;
    assert (pixWriteMem (&bytes, &size, pix, IFF_PNG) == 0);
    assert (ds_ocr_page (ocr, bytes, size / 2, &text, &confidence) == -1);
    //  A blank page reads as no text, not as an error
    assert (ds_ocr_page (ocr, bytes, size, &text, &confidence) == 0);
    assert (text && strlen (text) < 4);
    zstr_free (&text);
    lept_free (bytes);
    pixDestroy (&pix);

    //  A rendered page reads back its words
    const char *fixtures = getenv ("DS_FIXTURES");
    char *path = zsys_sprintf ("%s/invoice.png", fixtures ? fixtures : ".");
    zfile_t *file = zfile_new (NULL, path);
    if (file && zfile_input (file) == 0) {
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        assert (ds_ocr_page (ocr, zchunk_data (chunk), zchunk_size (chunk),
                             &text, &confidence)
                == 0);
        if (verbose)
            printf ("confidence=%d text=%s\n", confidence, text);
        assert (strstr (text, "INVOICE"));
        assert (confidence > 50);
        zstr_free (&text);
        zchunk_destroy (&chunk);
    }
    else {
        //  ctest sets DS_FIXTURES and renders the pages first
        assert (!fixtures);
        printf ("(no fixtures, page read skipped) ");
    }
    zfile_destroy (&file);
    zstr_free (&path);
    ds_ocr_destroy (&ocr);
    //  @end
    printf ("OK\n");
}
