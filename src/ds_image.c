/*  =========================================================================
    ds_image - what an image is, read from its header only

    @header
    A thin wrapper over leptonica's header readers: it never decodes the
    pixels, so it is cheap enough for the gateway's request path.
    @end
    =========================================================================
*/

#include "ds_classes.h"
#include <leptonica/allheaders.h>

#define IMAGE_MIN_BYTES 8


//  --------------------------------------------------------------------------
//  Name of a leptonica format we accept; NULL for the rest

static const char *
s_format_name (int format)
{
    switch (format) {
        case IFF_PNG:
            return "png";
        case IFF_JFIF_JPEG:
            return "jpeg";
        case IFF_BMP:
            return "bmp";
        case IFF_GIF:
            return "gif";
        case IFF_WEBP:
            return "webp";
        case IFF_PNM:
            return "pnm";
        case IFF_TIFF:
        case IFF_TIFF_PACKBITS:
        case IFF_TIFF_RLE:
        case IFF_TIFF_G3:
        case IFF_TIFF_G4:
        case IFF_TIFF_LZW:
        case IFF_TIFF_ZIP:
        case IFF_TIFF_JPEG:
            return "tiff";
        default:
            return NULL;
    }
}


//  --------------------------------------------------------------------------
//  Probe an image's header

int
ds_image_probe (
    const void *data, size_t size, const char **format, int *width, int *height)
{
    if (!data || size < IMAGE_MIN_BYTES)
        return -1;
    l_int32 found = IFF_UNKNOWN;
    if (findFileFormatBuffer ((const l_uint8 *) data, &found))
        return -1;
    const char *name = s_format_name (found);
    if (!name)
        return -1;
    l_int32 pixel_width = 0, pixel_height = 0, bits = 0, samples = 0;
    if (pixReadHeaderMem ((const l_uint8 *) data, size, &found, &pixel_width,
                          &pixel_height, &bits, &samples, NULL))
        return -1;
    if (pixel_width <= 0 || pixel_height <= 0)
        return -1;
    *format = name;
    *width = pixel_width;
    *height = pixel_height;
    return 0;
}


//  --------------------------------------------------------------------------
//  Silence leptonica's stderr messages

void
ds_image_quiet (void)
{
    setMsgSeverity (L_SEVERITY_NONE);
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_image_test (bool verbose)
{
    printf (" * ds_image: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    ds_image_quiet ();
    //  Make a small image with leptonica and probe it in three formats
    PIX *pix = pixCreate (120, 80, 8);
    assert (pix);
    pixSetAllArbitrary (pix, 255);
    int formats [] = {IFF_PNG, IFF_JFIF_JPEG, IFF_TIFF_ZIP};
    const char *names [] = {"png", "jpeg", "tiff"};
    for (int format_nbr = 0; format_nbr < 3; format_nbr++) {
        l_uint8 *bytes = NULL;
        size_t size = 0;
        assert (pixWriteMem (&bytes, &size, pix, formats [format_nbr]) == 0);
        const char *format = NULL;
        int width = 0, height = 0;
        assert (ds_image_probe (bytes, size, &format, &width, &height) == 0);
        assert (streq (format, names [format_nbr]));
        assert (width == 120 && height == 80);
        //  A PNG signature with nothing behind it is not an image
        if (format_nbr == 0)
            assert (ds_image_probe (bytes, 12, &format, &width, &height) == -1);
        lept_free (bytes);
    }
    pixDestroy (&pix);
    const char *format;
    int width, height;
    assert (
        ds_image_probe ("%PDF-1.4 not an image", 21, &format, &width, &height)
        == -1);
    assert (ds_image_probe ("hello, world", 12, &format, &width, &height)
            == -1);
    assert (ds_image_probe (NULL, 0, &format, &width, &height) == -1);
    //  @end
    printf ("OK\n");
}
