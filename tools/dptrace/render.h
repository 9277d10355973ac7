/* render.h - the terminal waterfall of `dptrace view`, shared with `dptrace collect --view`
 * so that a live trace is drawn exactly as a trace read from a file.
 */
#ifndef DPTRACE_CLI_RENDER_H
#define DPTRACE_CLI_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "traceset.h"

typedef struct pen {
    FILE *out;
    bool color, ascii;
    int width;
} pen;

/* Sets up a pen for out: colour 0 auto (a terminal without NO_COLOR), 1 always, 2 never;
 * ASCII when asked or when the locale is not UTF-8; width 0: the terminal's, else
 * $COLUMNS, else 100. */
void pen_init(pen *p, FILE *out, int color, bool ascii, int width);

/* Draws one trace: a header line (id, root, start, duration, counts) and a row per span
 * (service, tree, kind, duration, bar, status). Orders st's spans as a tree first
 * (traceset_order). sum gives the trace's id, time span and counts. */
void draw_waterfall(const pen *p, const trace_sum *sum, sel_trace *st);

#endif
